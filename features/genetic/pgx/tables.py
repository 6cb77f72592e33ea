"""CPIC allele definitions, allele functions and phenotype rules, read from features/data/pgx_*.csv.

The tables are data so that a pharmacist can check them against CPIC without reading code; every row
names its source and version. Conventions follow the CPIC allele definition tables: positions are GRCh38
with alleles on the + strand (DPYD and VKORC1 lie on the minus strand, so c. names are complemented), a
position not listed for an allele carries the reference base, and ``*`` means "any base" (CPIC's IUPAC
wildcards such as CYP2C19 *4 at c.-806).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from itertools import combinations_with_replacement

import pandas as pd

ANY = "*"


@dataclass(frozen=True)
class Position:
    rsid: str
    chrom: str
    pos: int
    ref: str
    alt: str
    variant: str  # the HGVS c. name, on the gene's own strand


@dataclass(frozen=True)
class Allele:
    name: str
    function: str | None
    activity_value: float | None
    bases: dict[str, str]  # rsid -> base on the + strand, or ANY

    def matches(self, haplotype: dict[str, str]) -> bool:
        """True when every called base of the haplotype is what this allele carries there."""
        return all(self.bases[rsid] in (ANY, base) for rsid, base in haplotype.items())


@dataclass(frozen=True)
class Gene:
    name: str
    positions: tuple[Position, ...]
    alleles: dict[str, Allele]  # in the table's order, which is also the order inside a diplotype name
    score_rules: tuple[tuple[float, float, str], ...]  # (min, max, phenotype) for activity-score genes
    function_rules: dict[tuple[str, str], str]  # sorted function pair -> phenotype

    @property
    def uses_activity_score(self) -> bool:
        return bool(self.score_rules)

    def diplotype(self, first: str, second: str) -> str:
        """CPIC-style name with the two alleles in table order, so *17/*2 and *2/*17 read alike."""
        order = list(self.alleles)
        a, b = sorted((first, second), key=order.index)
        return f"{a}/{b}"

    def activity_score(self, first: str, second: str) -> float | None:
        a, b = self.alleles[first].activity_value, self.alleles[second].activity_value
        return None if a is None or b is None or not self.uses_activity_score else float(a + b)

    def phenotype(self, first: str, second: str) -> str | None:
        """CPIC phenotype of a diplotype; None where CPIC defines none (VKORC1), Indeterminate if unlisted."""
        if self.uses_activity_score:
            score = self.activity_score(first, second)
            return next((p for lo, hi, p in self.score_rules if score is not None and lo <= score <= hi),
                        "Indeterminate")
        if not self.function_rules:
            return None
        low, high = sorted((str(self.alleles[first].function), str(self.alleles[second].function)))
        return self.function_rules.get((low, high), "Indeterminate")

    def phenotype_for_score(self, score: float) -> str | None:
        return next((p for lo, hi, p in self.score_rules if lo <= score <= hi), None)

    def all_diplotypes(self) -> list[tuple[str, str]]:
        return list(combinations_with_replacement(self.alleles, 2))


class TableError(ValueError):
    """A data file breaks its own contract (file, row, field, rule)."""


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(files("features") / "data" / name, dtype=str, keep_default_na=False)


@cache
def genes() -> dict[str, Gene]:
    """Every gene pmed calls, validated once: each definition names a known position and base."""
    positions, defs = _read("pgx_positions.csv"), _read("pgx_allele_definitions.csv")
    functions, rules = _read("pgx_allele_functions.csv"), _read("pgx_phenotypes.csv")
    result = {}
    for gene, rows in positions.groupby("gene", sort=False):
        pos = tuple(Position(r.rsid, r.chrom, int(r.pos), r.ref, r.alt, r.variant) for r in rows.itertuples())
        alleles = _alleles(gene, pos, defs[defs["gene"] == gene], functions[functions["gene"] == gene])
        gene_rules = rules[rules["gene"] == gene]
        scores = tuple((float(r.score_min), float(r.score_max), r.phenotype)
                       for r in gene_rules.itertuples() if r.score_min)
        pairs = {tuple(sorted((r.function_1, r.function_2))): r.phenotype
                 for r in gene_rules.itertuples() if r.function_1}
        result[gene] = Gene(gene, pos, alleles, scores, pairs)
    return result


def _alleles(gene: str, positions: tuple[Position, ...], defs: pd.DataFrame, functions: pd.DataFrame
             ) -> dict[str, Allele]:
    by_rsid = {p.rsid: p for p in positions}
    alleles: dict[str, Allele] = {}
    for f in functions.itertuples():
        bases = {p.rsid: p.ref for p in positions}
        for d in defs[defs["allele"] == f.allele].itertuples():
            p = by_rsid.get(d.rsid)
            if p is None or d.base not in (p.ref, p.alt, ANY):
                raise TableError(f"pgx_allele_definitions.csv: {gene} {d.allele} at {d.rsid}: base {d.base!r} "
                                 "is not the position's REF, ALT or '*'")
            bases[d.rsid] = d.base
        value = float(f.activity_value) if f.activity_value else None
        alleles[f.allele] = Allele(f.allele, f.function or None, value, bases)
    unknown = set(defs["allele"]) - set(alleles)
    if unknown:
        raise TableError(f"pgx_allele_definitions.csv: {gene} alleles {sorted(unknown)} have no row in "
                         "pgx_allele_functions.csv")
    return alleles
