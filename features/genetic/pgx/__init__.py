"""Pharmacogenomics: CPIC diplotypes and phenotypes from a VCF or from PharmCAT outputs, and count features."""

from features.genetic.pgx.calls import CALL_COLUMNS, call_vcf, quality_counts
from features.genetic.pgx.counts import allele_counts, wanted_pgx_sites

__all__ = ["CALL_COLUMNS", "allele_counts", "call_vcf", "quality_counts", "wanted_pgx_sites"]
