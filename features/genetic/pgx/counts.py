"""Allele-count model features (e.g. ``cyp2c19_no_function_alleles``) from the same CPIC tables.

Each feature counts copies of the core variant of its listed alleles (pgx_count_features.csv names the
allele and the variant; position and bases come from pgx_positions.csv, the one definition). Counts need
only those variants, whereas a full diplotype needs every defining position, which a small panel or the
simulator's VCF lacks. Any no-call or absent site among a feature's variants makes that feature missing
(a partial call is not guessed as normal); so does a total above two copies, which no diploid carries.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd

from features.genetic.pgx.tables import Position, TableError, genes
from features.genetic.vcf import Genotypes, site_key


@cache
def count_features() -> list[tuple[str, list[tuple[Position, str]]]]:
    """(feature, [(position, counted base)]) in file order, checked against the allele definitions."""
    table = pd.read_csv(files("features") / "data" / "pgx_count_features.csv", dtype=str)
    features = []
    for feature, rows in table.groupby("feature", sort=False):
        variants = []
        for r in rows.itertuples():
            gene = genes()[r.gene]
            position = next(p for p in gene.positions if p.rsid == r.rsid)
            base = gene.alleles[r.allele].bases[r.rsid]
            if base != position.alt:
                raise TableError(f"pgx_count_features.csv: {feature} {r.allele} does not carry ALT at {r.rsid}")
            variants.append((position, base))
        features.append((feature, variants))
    return features


def wanted_pgx_sites() -> set[tuple[str, int]]:
    return {site_key(p.chrom, p.pos) for _, variants in count_features() for p, _ in variants}


def allele_counts(genotypes: Genotypes) -> pd.DataFrame:
    """One column per PGx count feature, one row per sample; NaN where any counted site is uncalled."""
    columns = {}
    for feature, variants in count_features():
        total = np.zeros(len(genotypes.samples))
        for p, base in variants:
            row = genotypes.sites.get(site_key(p.chrom, p.pos))
            if row is None or genotypes.records[row].ref != p.ref or genotypes.records[row].alts[0] != base:
                total[:] = np.nan
                continue
            dosage = genotypes.alt_dosage[row].astype(float)
            dosage[dosage < 0] = np.nan
            total = total + dosage
        columns[feature] = np.where(total > 2, np.nan, total)  # more than two alleles: not a valid call
    return pd.DataFrame(columns, index=pd.Index(genotypes.samples, name="sample"))
