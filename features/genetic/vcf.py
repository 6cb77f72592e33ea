"""Genotypes from a VCF (plain or bgzipped) via cyvcf2, streaming record by record: the reference reader.

The feature table and ``pmed features prs`` read genotypes with ``features.genetic.calls`` (numpy over the
VCF text, several times faster at biobank scale); the tests check that reader, and the table's genetic
stage, against this one. ``site_key`` is the one position key of both.

Only the sites asked for are kept, so a whole-genome VCF costs one pass and little memory. Positions are
keyed as (contig without 'chr', position). A site absent from the VCF is a NO-CALL for everyone, not
homozygous reference: VCFs from sequencing often omit reference sites, and assuming reference would
silently bias scores.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cyvcf2 import VCF, Variant

# cyvcf2 gt_types codes: 0 HOM_REF, 1 HET, 2 UNKNOWN, 3 HOM_ALT -> ALT dosage, -1 = no call
_ALT_DOSAGE = np.array([0, 1, -1, 2], dtype=np.int8)


@dataclass(frozen=True)
class Site:
    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]


@dataclass(frozen=True)
class Genotypes:
    samples: list[str]
    sites: dict[tuple[str, int], int]  # (chrom, pos) -> row in alt_dosage
    records: list[Site]
    alt_dosage: np.ndarray  # (sites, samples) int8; -1 = no call
    multiallelic: int  # records skipped because they have more than one ALT allele
    records_in: int = 0  # every data line of the file
    rejected: tuple[tuple[int, str, str], ...] = ()  # (file line, field, rule) of wanted records not kept


def site_key(chrom: str, pos: int) -> tuple[str, int]:
    return (str(chrom).removeprefix("chr"), int(pos))


def header_lines(path: Path) -> int:
    """Lines before the first record, so record k (1-based) sits on file line header_lines + k."""
    opener = gzip.open if path.suffix in (".gz", ".bgz") else open
    count = 0
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            count += 1
    return count


def read_genotypes(path: Path, wanted: set[tuple[str, int]] | None = None) -> Genotypes:
    """ALT dosages at the wanted biallelic sites (all sites when ``wanted`` is None).

    A wanted record with several ALT alleles, or repeating a site already read, is rejected with its
    file line number (the first record of a site wins); records at unwanted sites are only counted.
    """
    first_line = header_lines(path) + 1
    vcf = VCF(str(path), gts012=False, lazy=True, threads=1)
    records: list[Site] = []
    rows: list[np.ndarray] = []
    sites: dict[tuple[str, int], int] = {}
    rejected: list[tuple[int, str, str]] = []
    n = 0
    try:
        for n, variant in enumerate(vcf, start=1):
            key = site_key(variant.CHROM, variant.POS)
            if wanted is not None and key not in wanted:
                continue
            problem = _problem(variant.ALT, key in sites)
            if problem:
                rejected.append((first_line + n - 1, *problem))
                continue
            sites[key] = len(records)
            records.append(Site(key[0], key[1], variant.REF, tuple(variant.ALT)))
            rows.append(_dosage(variant))
        samples = list(vcf.samples)
    finally:
        vcf.close()
    dosage = np.vstack(rows) if rows else np.empty((0, len(samples)), dtype=np.int8)
    multiallelic = sum(field == "ALT" for _, field, _ in rejected)
    return Genotypes(samples, sites, records, dosage, multiallelic, n, tuple(rejected))


def _dosage(variant: Variant) -> np.ndarray:
    """ALT dosage per sample; a half call (``0/.``, ``./1``) is a no-call, as plink2 and pmed's PRS reader treat it.

    cyvcf2's ``gt_types`` reports ``0/.`` as HOM_REF and ``./1`` as HET, which would count an allele nobody
    observed; the allele array says which half is missing.
    """
    dosage = _ALT_DOSAGE[np.array(variant.gt_types, copy=True)]
    alleles = variant.genotype.array()[:, :2]
    dosage[(alleles == -1).any(axis=1)] = -1  # -1 = missing allele; -2 pads a haploid call
    return dosage


def _problem(alts: list[str], seen: bool) -> tuple[str, str] | None:
    if len(alts) != 1:
        return "ALT", f"{len(alts)} ALT alleles: only biallelic records are supported"
    if seen:
        return "POS", "site repeats an earlier record at the same position"
    return None
