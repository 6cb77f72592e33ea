"""Diplotype, CPIC phenotype and activity score per sample and gene, without guessing.

Every way of placing the heterozygous bases on two haplotypes is tried (phased bases keep their
orientation within a phase set) and each haplotype is matched to the defined alleles compatible with its
called bases. The result is:
- ``called``: exactly one diplotype explains the genotype;
- ``ambiguous``: several diplotypes do; or, unphased, the only defined reading is a compound
  heterozygote (e.g. CYP2C9 *2/*3), whose cis alternative (*1 plus an undefined *2+*3 haplotype) fits the
  data equally well. ``assume_trans=True`` accepts the defined reading instead, as PharmCAT does;
- ``incomplete``: a defining position is absent or uncalled (never taken as reference);
- ``unmatched``: no pair of defined alleles explains the genotype (a novel or out-of-table allele).
Phenotype and activity score are filled whenever every remaining reading agrees on them, so an
ambiguous or incomplete call can still carry a phenotype (SLCO1B1 *1/*15 vs *5/*37: both decreased).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from features.genetic.pgx.genotypes import Call
from features.genetic.pgx.tables import Gene

NOVEL = "?"
MAX_UNITS = 12  # 2**11 phase readings; beyond that the call is flagged rather than enumerated


@dataclass(frozen=True)
class GeneCall:
    gene: str
    diplotype: str | None
    phenotype: str | None
    activity_score: float | None
    call_quality: str  # called | ambiguous | incomplete | unmatched
    reason: str


@dataclass(frozen=True)
class _Reading:
    diplotypes: frozenset[tuple[str, str]]  # unordered allele pairs; NOVEL marks an undefined haplotype
    split: bool  # heterozygous ALT bases sit on both haplotypes (a compound heterozygote)


def call_gene(gene: Gene, calls: dict[str, Call], assume_trans: bool = False) -> GeneCall:
    """Call one sample's diplotype from its calls at the gene's positions (missing key = absent)."""
    missing = [p.rsid for p in gene.positions if calls.get(p.rsid, Call(None)).bases is None]
    called = {rsid: c for rsid, c in calls.items() if c.bases is not None}
    units = _units(called)
    if len(units) > MAX_UNITS:
        return GeneCall(gene.name, None, None, None, "ambiguous",
                        f"{len(units)} unphased heterozygous positions: too many phase readings to list")
    readings = [_reading(gene, called, units, flips) for flips in _orientations(len(units))]
    defined = [r for r in readings if any(NOVEL not in d for d in r.diplotypes)]
    candidates = frozenset().union(*(r.diplotypes for r in (defined or readings)))
    candidates = frozenset(d for d in candidates if NOVEL not in d) or candidates
    quality, reason = _judge(gene, readings, defined, candidates, missing, assume_trans)
    return _result(gene, candidates, quality, reason)


def _units(called: dict[str, Call]) -> list[list[str]]:
    """Groups of heterozygous positions whose relative phase is known: a phase set, or one unphased site."""
    blocks: dict[object, list[str]] = {}
    units = []
    for rsid, c in called.items():
        if c.bases is None or c.bases[0] == c.bases[1]:  # (None never: call_gene passes called positions)
            continue
        if c.phased:
            blocks.setdefault(c.phase_set, []).append(rsid)
        else:
            units.append([rsid])
    return list(blocks.values()) + units


def _orientations(n_units: int) -> list[tuple[bool, ...]]:
    """Flip patterns with the first unit fixed: swapping the two haplotypes gives the same diplotype."""
    return [(False, *rest) for rest in product((False, True), repeat=max(n_units - 1, 0))] if n_units else [()]


def _reading(gene: Gene, called: dict[str, Call], units: list[list[str]], flips: tuple[bool, ...]) -> _Reading:
    flip_of = {rsid: f for unit, f in zip(units, flips, strict=True) for rsid in unit}
    haps: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for rsid, c in called.items():
        if c.bases is None:  # never: call_gene passes only called positions
            continue
        first, second = c.bases[::-1] if flip_of.get(rsid, False) else c.bases
        haps[0][rsid], haps[1][rsid] = first, second
    ref = {p.rsid: p.ref for p in gene.positions}
    het_alt = [any(h[r] != ref[r] for r in flip_of) for h in haps]
    options = [[a.name for a in gene.alleles.values() if a.matches(h)] or [NOVEL] for h in haps]
    pairs = frozenset(_pair(gene, a, b) for a, b in product(*options))
    return _Reading(pairs, all(het_alt) and len(flip_of) > 0)


def _pair(gene: Gene, a: str, b: str) -> tuple[str, str]:
    if NOVEL in (a, b):
        return (a, b) if b == NOVEL else (b, a)
    return tuple(gene.diplotype(a, b).split("/", 1))  # type: ignore[return-value]


def _judge(gene: Gene, readings: list[_Reading], defined: list[_Reading], candidates: frozenset[tuple[str, str]],
           missing: list[str], assume_trans: bool) -> tuple[str, str]:
    names = _names(gene, candidates)
    if missing:
        return "incomplete", (f"no call at {', '.join(missing)} (absent from the VCF or uncalled; not assumed "
                              f"reference); consistent with {names}")
    if not defined:
        return "unmatched", "no pair of defined alleles explains the genotype (novel or out-of-table allele)"
    if len(candidates) > 1:
        return "ambiguous", f"unphased: {names} all fit the genotype"
    if len(readings) > 1 and defined[0].split and not assume_trans:
        return "ambiguous", (f"unphased compound heterozygote: {names} if the variants are in trans; in cis "
                             "they would form one undefined haplotype (phase the VCF or pass --assume-trans)")
    if len(readings) > 1 and defined[0].split:
        return "called", "unphased compound heterozygote; trans assumed (the only defined reading)"
    return "called", ""


def _names(gene: Gene, candidates: frozenset[tuple[str, str]]) -> str:
    order = {name: i for i, name in enumerate(gene.alleles)}
    listed = ["/".join(d) for d in sorted(candidates, key=lambda d: [order.get(a, len(order)) for a in d])]
    return " or ".join(listed[:6]) + (f" (+{len(listed) - 6} more)" if len(listed) > 6 else "")


def _result(gene: Gene, candidates: frozenset[tuple[str, str]], quality: str, reason: str) -> GeneCall:
    diplotype = "/".join(next(iter(candidates))) if len(candidates) == 1 and quality != "unmatched" else None
    if quality == "ambiguous" and reason.startswith("unphased compound"):
        diplotype = None
    known = [d for d in candidates if NOVEL not in d]
    if quality == "unmatched" or len(known) != len(candidates) or not known:
        return GeneCall(gene.name, None if quality == "unmatched" else diplotype, None, None, quality, reason)
    phenotypes = {gene.phenotype(*d) for d in known}
    scores = {gene.activity_score(*d) for d in known}
    if quality == "ambiguous" and reason.startswith("unphased compound"):
        phenotypes, scores = {None}, {None}  # the cis reading has an undefined haplotype of unknown function
    phenotype = phenotypes.pop() if len(phenotypes) == 1 else None
    score = scores.pop() if len(scores) == 1 else None
    return GeneCall(gene.name, diplotype, phenotype, score, quality, reason)
