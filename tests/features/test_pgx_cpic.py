"""CPIC calls from hand-built VCFs: each listed allele's defining variants -> the CPIC table's answer.

The expected phenotypes and activity scores are copied from the CPIC diplotype tables (as shipped in
PharmCAT's phenotype/cpic/*.json) by hand, not computed from pmed's own rules.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.genetic.pgx import call_vcf
from features.genetic.pgx.caller import call_gene
from features.genetic.pgx.genotypes import Call
from features.genetic.pgx.tables import ANY, genes

HAP_B3 = "c.1129-5923C>G, c.1236G>A (HapB3)"
VK_REF, VK_VAR = "rs9923231 reference (C)", "rs9923231 variant (T)"

# gene, allele 1, allele 2, CPIC phenotype, CPIC activity score (None where CPIC defines none)
CPIC = [
    ("CYP2C9", "*1", "*1", "Normal Metabolizer", 2.0),
    ("CYP2C9", "*1", "*2", "Intermediate Metabolizer", 1.5),
    ("CYP2C9", "*1", "*3", "Intermediate Metabolizer", 1.0),
    ("CYP2C9", "*1", "*5", "Intermediate Metabolizer", 1.5),
    ("CYP2C9", "*1", "*6", "Intermediate Metabolizer", 1.0),
    ("CYP2C9", "*1", "*8", "Intermediate Metabolizer", 1.5),
    ("CYP2C9", "*1", "*11", "Intermediate Metabolizer", 1.5),
    ("CYP2C9", "*2", "*2", "Intermediate Metabolizer", 1.0),
    ("CYP2C9", "*2", "*3", "Poor Metabolizer", 0.5),
    ("CYP2C9", "*3", "*3", "Poor Metabolizer", 0.0),
    ("CYP2C9", "*3", "*6", "Poor Metabolizer", 0.0),
    ("CYP2C9", "*5", "*11", "Intermediate Metabolizer", 1.0),
    ("CYP2C19", "*1", "*1", "Normal Metabolizer", None),
    ("CYP2C19", "*1", "*2", "Intermediate Metabolizer", None),
    ("CYP2C19", "*1", "*17", "Rapid Metabolizer", None),
    ("CYP2C19", "*17", "*17", "Ultrarapid Metabolizer", None),
    ("CYP2C19", "*2", "*17", "Intermediate Metabolizer", None),
    ("CYP2C19", "*2", "*2", "Poor Metabolizer", None),
    ("CYP2C19", "*2", "*3", "Poor Metabolizer", None),
    ("CYP2C19", "*1", "*4", "Intermediate Metabolizer", None),
    ("CYP2C19", "*4", "*17", "Intermediate Metabolizer", None),
    ("CYP2C19", "*1", "*5", "Intermediate Metabolizer", None),
    ("CYP2C19", "*6", "*7", "Poor Metabolizer", None),
    ("CYP2C19", "*1", "*8", "Intermediate Metabolizer", None),
    ("CYP2C19", "*1", "*38", "Normal Metabolizer", None),
    ("CYP2C19", "*3", "*38", "Intermediate Metabolizer", None),
    ("SLCO1B1", "*1", "*1", "Normal Function", None),
    ("SLCO1B1", "*1", "*5", "Decreased Function", None),
    ("SLCO1B1", "*1", "*15", "Decreased Function", None),
    ("SLCO1B1", "*1", "*37", "Normal Function", None),
    ("SLCO1B1", "*5", "*15", "Poor Function", None),
    ("SLCO1B1", "*15", "*15", "Poor Function", None),
    ("SLCO1B1", "*15", "*37", "Decreased Function", None),
    ("DPYD", "Reference", "Reference", "Normal Metabolizer", 2.0),
    ("DPYD", "Reference", "c.1905+1G>A (*2A)", "Intermediate Metabolizer", 1.0),
    ("DPYD", "Reference", "c.1679T>G (*13)", "Intermediate Metabolizer", 1.0),
    ("DPYD", "Reference", "c.2846A>T", "Intermediate Metabolizer", 1.5),
    ("DPYD", "Reference", HAP_B3, "Intermediate Metabolizer", 1.5),
    ("DPYD", "c.1905+1G>A (*2A)", "c.1905+1G>A (*2A)", "Poor Metabolizer", 0.0),
    ("DPYD", "c.1905+1G>A (*2A)", "c.2846A>T", "Poor Metabolizer", 0.5),
    ("DPYD", "c.2846A>T", HAP_B3, "Intermediate Metabolizer", 1.0),
    ("DPYD", HAP_B3, HAP_B3, "Intermediate Metabolizer", 1.0),
    ("VKORC1", VK_REF, VK_REF, None, None),
    ("VKORC1", VK_REF, VK_VAR, None, None),
    ("VKORC1", VK_VAR, VK_VAR, None, None),
]


def haplotype(gene: str, allele: str) -> dict[str, str]:
    """The allele's base at every defining position (a wildcard takes the reference base)."""
    ref = {p.rsid: p.ref for p in genes()[gene].positions}
    return {rsid: ref[rsid] if base == ANY else base for rsid, base in genes()[gene].alleles[allele].bases.items()}


def gt(position_ref: str, position_alt: str, first: str, second: str, phased: bool) -> str:
    index = {position_ref: "0", position_alt: "1"}
    return f"{index[first]}{'|' if phased else '/'}{index[second]}"


def write_vcf(path: Path, samples: dict[str, dict[str, str]], absent: frozenset[str] = frozenset(),
              alts: dict[str, str] | None = None, refs: dict[str, str] | None = None, ps: bool = False) -> Path:
    """All table positions, hom-ref unless a sample gives its GT (e.g. '0|1' or '0|1:7' with ps=True)."""
    positions = sorted((p for g in genes().values() for p in g.positions), key=lambda p: (int(p.chrom[3:]), p.pos))
    lines = ["##fileformat=VCFv4.2", *(f"##contig=<ID=chr{c}>" for c in (1, 10, 12, 16)),
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             '##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples])]
    for p in positions:
        if p.rsid in absent:
            continue
        fmt = "GT:PS" if ps else "GT"
        default = "0/0:." if ps else "0/0"
        calls = [s.get(p.rsid, default) for s in samples.values()]
        lines.append("\t".join([p.chrom, str(p.pos), p.rsid, (refs or {}).get(p.rsid, p.ref),
                                (alts or {}).get(p.rsid, p.alt), ".", "PASS", ".", fmt, *calls]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def genotype(gene: str, first: str, second: str, phased: bool) -> dict[str, str]:
    h1, h2 = haplotype(gene, first), haplotype(gene, second)
    return {p.rsid: gt(p.ref, p.alt, h1[p.rsid], h2[p.rsid], phased) for p in genes()[gene].positions}


def one(frame: pd.DataFrame, sample: str, gene: str) -> dict[str, object]:
    rows = frame[(frame["sample"] == sample) & (frame["gene"] == gene)]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def same(value: object, expected: object) -> bool:
    if expected is None:
        return value is None or (isinstance(value, float) and np.isnan(value))
    return value == expected


@pytest.fixture(scope="module")
def phased_calls(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    samples = {f"S{i}": genotype(g, a, b, phased=True) for i, (g, a, b, _, _) in enumerate(CPIC)}
    return call_vcf(write_vcf(tmp_path_factory.mktemp("pgx") / "phased.vcf", samples))


@pytest.mark.parametrize("i", range(len(CPIC)), ids=[f"{g} {a}/{b}" for g, a, b, _, _ in CPIC])
def test_phased_defining_variants_give_the_cpic_diplotype_phenotype_and_score(phased_calls: pd.DataFrame, i: int
                                                                               ) -> None:
    gene, a, b, phenotype, score = CPIC[i]
    row = one(phased_calls, f"S{i}", gene)
    assert row["call_quality"] == "called", row["reason"]
    assert row["diplotype"] == f"{a}/{b}"
    assert same(row["phenotype"], phenotype)
    assert same(row["activity_score"], score)


UNPHASED = [  # gene, a, b, quality, diplotype, phenotype, score (strict policy)
    ("CYP2C9", "*1", "*2", "called", "*1/*2", "Intermediate Metabolizer", 1.5),
    ("CYP2C9", "*3", "*3", "called", "*3/*3", "Poor Metabolizer", 0.0),
    ("CYP2C9", "*2", "*3", "ambiguous", None, None, None),  # compound het: cis would be *1 + undefined
    ("CYP2C19", "*1", "*2", "called", "*1/*2", "Intermediate Metabolizer", None),  # *2's two variants in cis
    ("CYP2C19", "*2", "*17", "ambiguous", None, None, None),
    ("CYP2C19", "*2", "*38", "called", "*2/*38", "Intermediate Metabolizer", None),
    ("SLCO1B1", "*1", "*15", "ambiguous", None, "Decreased Function", None),  # or *5/*37: same phenotype
    ("SLCO1B1", "*15", "*37", "called", "*15/*37", "Decreased Function", None),
    ("DPYD", "Reference", HAP_B3, "called", f"Reference/{HAP_B3}", "Intermediate Metabolizer", 1.5),
    ("DPYD", "c.1905+1G>A (*2A)", HAP_B3, "ambiguous", None, None, None),
]


@pytest.mark.parametrize("case", UNPHASED, ids=[f"{c[0]} {c[1]}/{c[2]}" for c in UNPHASED])
def test_unphased_compound_heterozygotes_are_ambiguous_not_guessed(tmp_path: Path, case: tuple) -> None:
    gene, a, b, quality, diplotype, phenotype, score = case
    calls = call_vcf(write_vcf(tmp_path / "u.vcf", {"S": genotype(gene, a, b, phased=False)}))
    row = one(calls, "S", gene)
    assert (row["call_quality"], row["diplotype"]) == (quality, diplotype), row["reason"]
    assert same(row["phenotype"], phenotype) and same(row["activity_score"], score)
    if quality == "ambiguous":
        assert "unphased" in row["reason"]
        trans = one(call_vcf(tmp_path / "u.vcf", assume_trans=True), "S", gene)
        if "compound heterozygote" in row["reason"]:
            assert (trans["call_quality"], trans["diplotype"]) == ("called", f"{a}/{b}")


def test_phase_sets_keep_orientation_only_within_a_block(tmp_path: Path) -> None:
    g = genotype("CYP2C9", "*2", "*3", phased=True)
    same_block = {r: f"{v}:7" for r, v in g.items()}
    split = {**same_block, "rs1057910": g["rs1057910"] + ":9"}  # *3's variant in another phase set
    calls = call_vcf(write_vcf(tmp_path / "ps.vcf", {"A": same_block, "B": split}, ps=True))
    assert one(calls, "A", "CYP2C9")["diplotype"] == "*2/*3"
    assert one(calls, "B", "CYP2C9")["call_quality"] == "ambiguous"


def test_absent_or_uncalled_positions_are_incomplete_never_reference(tmp_path: Path) -> None:
    samples = {"A": genotype("CYP2C19", "*1", "*2", phased=False),
               "B": {**genotype("CYP2C19", "*1", "*1", phased=False), "rs4244285": "./."},
               "C": {"rs4149056": "0/1"}, "D": {"rs4149056": "1/1"}}
    calls = call_vcf(write_vcf(tmp_path / "m.vcf", samples, absent=frozenset({"rs12248560", "rs2306283"})))
    a = one(calls, "A", "CYP2C19")  # without c.-806 it may be *1/*2 or *2/*17: both intermediate
    assert (a["call_quality"], a["diplotype"], a["phenotype"]) == ("incomplete", None, "Intermediate Metabolizer")
    assert "rs12248560" in a["reason"] and "not assumed reference" in a["reason"]
    b = one(calls, "B", "CYP2C19")
    assert b["call_quality"] == "incomplete" and "rs4244285" in b["reason"] and b["phenotype"] is None
    # SLCO1B1 from c.521T>C alone (CPIC 2022): every reading agrees on the phenotype
    assert one(calls, "C", "SLCO1B1")["phenotype"] == "Decreased Function"
    assert one(calls, "D", "SLCO1B1")["phenotype"] == "Poor Function"
    assert one(calls, "C", "SLCO1B1")["call_quality"] == "incomplete"


def test_out_of_table_alleles_and_bad_records_are_flagged(tmp_path: Path) -> None:
    samples = {"A": {"rs1799853": "1/1", "rs1057910": "0/1"},  # no pair of alleles explains this
               "B": {"rs7900194": "0/2"},  # CYP2C9 *27 (G>T), not in the table
               "C": {"rs9332131": "0/1"}}  # *6, an indel, matched on REF/ALT as normalised
    calls = call_vcf(write_vcf(tmp_path / "x.vcf", samples, alts={"rs7900194": "A,T"}, refs={"rs3918290": "G"}))
    assert one(calls, "A", "CYP2C9")["call_quality"] == "unmatched"
    assert one(calls, "B", "CYP2C9")["call_quality"] == "unmatched"
    assert one(calls, "C", "CYP2C9")["diplotype"] == "*1/*6"
    dpyd = one(calls, "A", "DPYD")  # REF differs from the GRCh38 table: that position is a no-call
    assert dpyd["call_quality"] == "incomplete" and "REF" in dpyd["reason"]


def test_every_diplotype_of_a_phenotype_gene_has_a_cpic_phenotype() -> None:
    for gene in genes().values():
        for a, b in gene.all_diplotypes():
            phenotype = gene.phenotype(a, b)
            assert (phenotype is None) == (gene.name == "VKORC1")
            assert phenotype != "Indeterminate", (gene.name, a, b)


GENE_NAMES = sorted(genes())


@st.composite
def phased_pair(draw: st.DrawFn) -> tuple[str, str, str]:
    gene = draw(st.sampled_from(GENE_NAMES))
    alleles = list(genes()[gene].alleles)
    return gene, draw(st.sampled_from(alleles)), draw(st.sampled_from(alleles))


@given(phased_pair())
@settings(max_examples=150, deadline=None)
def test_swapping_phased_haplotypes_gives_the_same_normalised_diplotype(pair: tuple[str, str, str]) -> None:
    gene, a, b = pair
    h1, h2 = haplotype(gene, a), haplotype(gene, b)
    forward = {r: Call((h1[r], h2[r]), True) for r in h1}
    backward = {r: Call((h2[r], h1[r]), True) for r in h1}
    one_way, other_way = call_gene(genes()[gene], forward), call_gene(genes()[gene], backward)
    assert one_way == other_way
    assert one_way.diplotype == genes()[gene].diplotype(a, b) and one_way.call_quality == "called"


GT_CHOICES = ["0/0", "0/1", "1/1", "./.", "0|1", "1|0"]
SOME_SITES = ["rs1799853", "rs1057910", "rs2306283", "rs4149056", "rs9923231", "rs3918290", "rs67376798"]


@given(st.lists(st.fixed_dictionaries({r: st.sampled_from(GT_CHOICES) for r in SOME_SITES}), min_size=2,
                max_size=6), st.randoms(use_true_random=False))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_calls_do_not_depend_on_sample_order(tmp_path: Path, genotypes: list[dict[str, str]], rnd: random.Random
                                             ) -> None:
    samples = {f"P{i}": g for i, g in enumerate(genotypes)}
    shuffled = list(samples)
    rnd.shuffle(shuffled)
    first = call_vcf(write_vcf(tmp_path / "a.vcf", samples))
    second = call_vcf(write_vcf(tmp_path / "b.vcf", {s: samples[s] for s in shuffled}))
    key = ["sample", "gene"]
    first, second = (f.sort_values(key).reset_index(drop=True) for f in (first, second))
    assert first.equals(second)
