"""Pharmacogene allele counts from the VCF, as declared in features/data/pgx_alleles.csv.

Each feature counts copies of its defining alleles (e.g. CYP2C19 *2 and *3). Any no-call or absent site
among a feature's defining variants makes that feature missing: a partial call is not guessed as normal;
so does a total above two copies, which no diploid genotype can carry.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd

from features.genetic.vcf import Genotypes, site_key


@cache
def pgx_alleles() -> pd.DataFrame:
    return pd.read_csv(files("features") / "data" / "pgx_alleles.csv", dtype={"pos": int})


def wanted_pgx_sites() -> set[tuple[str, int]]:
    return {site_key(c, p) for c, p in zip(pgx_alleles()["chrom"], pgx_alleles()["pos"])}


def allele_counts(genotypes: Genotypes) -> pd.DataFrame:
    """One column per PGx feature, one row per sample; NaN where any defining site is uncalled."""
    columns = {}
    for feature, alleles in pgx_alleles().groupby("feature", sort=False):
        total = np.zeros(len(genotypes.samples))
        for a in alleles.itertuples(index=False):
            row = genotypes.sites.get(site_key(a.chrom, a.pos))
            if row is None or genotypes.records[row].ref != a.ref or genotypes.records[row].alts[0] != a.alt:
                total[:] = np.nan
                continue
            dosage = genotypes.alt_dosage[row].astype(float)
            dosage[dosage < 0] = np.nan
            total = total + (dosage if a.counted_allele == a.alt else 2 - dosage)
        columns[feature] = np.where(total > 2, np.nan, total)  # more than two alleles: not a valid call
    return pd.DataFrame(columns, index=pd.Index(genotypes.samples, name="sample"))
