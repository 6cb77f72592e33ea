"""Allele-count model features (e.g. ``cyp2c19_no_function_alleles``) from the same CPIC tables.

Each feature counts copies of the core variant of its listed alleles (pgx_count_features.csv names the
allele and the variant; position and bases come from pgx_positions.csv, the one definition). Counts need
only those variants, whereas a full diplotype needs every defining position, which a small panel or the
simulator's VCF lacks. Any no-call or absent site among a feature's variants makes that feature missing
(a partial call is not guessed as normal); so does a total above two copies, which no diploid carries.
Genotypes come from ``features.genetic.calls`` (the reader the PRS step uses); only a biallelic record with
the table's REF and the counted base as its one ALT counts, the first such record of a site winning.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd

from features.genetic.calls import Calls
from features.genetic.pgx.tables import Position, TableError, genes
from features.genetic.vcf import site_key


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


def allele_counts(calls: Calls) -> pd.DataFrame:
    """One column per PGx count feature, one row per sample; NaN where any counted site is uncalled."""
    sites = calls.sites
    biallelic = sites.loc[sites["alts"].map(len) == 1]
    first_row = {(c, int(p)): row for row, c, p in zip(biallelic.index[::-1], biallelic["chrom"][::-1],
                                                         biallelic["pos"][::-1], strict=True)}
    columns = {}
    for feature, variants in count_features():
        total = np.zeros(len(calls.samples))
        for p, base in variants:
            row = first_row.get(site_key(p.chrom, p.pos))
            if row is None or sites.at[row, "ref"] != p.ref or sites.at[row, "alts"] != (base,):
                total[:] = np.nan
                continue
            dosage = calls.alt_dosage[row].astype(float)
            dosage[dosage < 0] = np.nan
            total = total + dosage
        columns[feature] = np.where(total > 2, np.nan, total)  # more than two alleles: not a valid call
    return pd.DataFrame(columns, index=pd.Index(calls.samples, name="sample"))
