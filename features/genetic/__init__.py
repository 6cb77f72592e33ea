"""Readers for genetic data: VCF genotypes, PGS Catalog polygenic scores, pharmacogene alleles."""
