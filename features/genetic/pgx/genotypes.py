"""Phased genotypes at the pharmacogene positions, read from a VCF with cyvcf2.

features/genetic/vcf.py keeps ALT dosages, which lose phase and the identity of a second ALT allele;
calling star alleles needs both, so this reader keeps each sample's two bases, the phase flag and the
phase set (FORMAT/PS). A position absent from the VCF is a no-call for everyone, never reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cyvcf2 import VCF

from features.genetic.pgx.tables import Position
from features.genetic.vcf import site_key

MISSING_PS = -2147483648  # cyvcf2's value for an empty integer FORMAT field


@dataclass(frozen=True)
class Call:
    """One sample at one position: two bases (None = no-call), whether phased, and its phase set."""

    bases: tuple[str, str] | None
    phased: bool = False
    phase_set: int | None = None


NO_CALL = Call(None)


@dataclass
class PhasedGenotypes:
    samples: list[str]
    calls: dict[str, list[Call]]  # rsid -> one Call per sample; absent rsid = no record in the VCF
    problems: dict[str, str] = field(default_factory=dict)  # rsid -> why its record was not used


def read_phased(path: Path, positions: list[Position]) -> PhasedGenotypes:
    """Stream the VCF once, keeping only records at the given positions."""
    wanted = {site_key(p.chrom, p.pos): p for p in positions}
    vcf = VCF(str(path), gts012=False, lazy=True, threads=1)
    calls: dict[str, list[Call]] = {}
    problems: dict[str, str] = {}
    try:
        samples = list(vcf.samples)
        for variant in vcf:
            position = wanted.get(site_key(variant.CHROM, variant.POS))
            if position is None:
                continue
            if position.rsid in calls or position.rsid in problems:
                calls.pop(position.rsid, None)
                problems[position.rsid] = "more than one VCF record at this position (merge split multiallelics)"
            elif position.ref != variant.REF:
                problems[position.rsid] = (f"VCF REF {variant.REF} differs from the GRCh38 table's {position.ref} "
                                           "(other build or unnormalised indel?)")
            else:
                calls[position.rsid] = _calls(variant)
    finally:
        vcf.close()
    return PhasedGenotypes(samples, calls, problems)


def _calls(variant: object) -> list[Call]:
    alleles = [variant.REF, *variant.ALT]  # type: ignore[attr-defined]
    phase_sets = _phase_sets(variant, len(variant.genotypes))  # type: ignore[attr-defined]
    out = []
    for gt, ps in zip(variant.genotypes, phase_sets, strict=True):  # type: ignore[attr-defined]
        if len(gt) != 3 or gt[0] < 0 or gt[1] < 0:  # haploid, half-call or no-call
            out.append(NO_CALL)
            continue
        out.append(Call((alleles[gt[0]], alleles[gt[1]]), bool(gt[2]), ps))
    return out


def _phase_sets(variant: object, n: int) -> list[int | None]:
    if "PS" not in variant.FORMAT:  # type: ignore[attr-defined]
        return [None] * n
    values = np.asarray(variant.format("PS")).reshape(n, -1)[:, 0]  # type: ignore[attr-defined]
    return [None if v == MISSING_PS else int(v) for v in values]
