"""Properties of the PGS Catalog parser, the GT reader and the matcher, on hypothesis-generated inputs."""

from __future__ import annotations

import dataclasses
import gzip
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.genetic.calls import VcfError, read_calls
from features.genetic.pgs_catalog import ScoreError, read_scoring_file
from features.genetic.prs import MatchPolicy, score_many, wanted_ids, wanted_sites
from features.genetic.prs_match import STATUSES, USED, complement
from features.genetic.vcf import read_genotypes
from features.sim.prs_fixtures import EXPECTED, VcfRecord, write_pgs_file, write_prs_fixture, write_vcf_lines

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _fixture(seed: int, n_variants: int, folder: Path):  # noqa: ANN202
    fixture = write_prs_fixture(folder, n_samples=40, n_variants=n_variants, seed=seed)
    scoring = read_scoring_file(fixture.scoring)
    return fixture, scoring, read_calls(fixture.vcf, wanted_sites([scoring]), wanted_ids([scoring]))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_variants=st.integers(1, 80))
def test_every_score_variant_gets_one_status_with_a_reason(seed: int, n_variants: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fixture, scoring, calls = _fixture(seed, n_variants, Path(tmp))
        result = score_many(calls, [scoring], min_overlap=0)[0]
    assert sum(result.counts().values()) == len(scoring.variants) == len(fixture.expected)
    assert set(result.report["status"]) <= set(STATUSES)
    assert result.report["status"].tolist() == fixture.expected["status"].tolist()
    unused = ~result.report["status"].isin(USED)
    assert (result.report.loc[unused, "reason"] != "").all()
    assert (result.report.loc[~unused, "orientation"] != "").all()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_variants=st.integers(20, 80))
def test_complementing_both_alleles_of_every_variant_gives_the_same_sums(seed: int, n_variants: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, scoring, calls = _fixture(seed, n_variants, Path(tmp))
    variants = scoring.variants.assign(effect_allele=complement(scoring.variants["effect_allele"]),
                                       other_allele=complement(scoring.variants["other_allele"]))
    flipped = dataclasses.replace(scoring, variants=variants, header={"pgs_id": "other_strand"})
    as_written, other_strand = score_many(calls, [scoring, flipped], min_overlap=0)
    np.testing.assert_allclose(as_written.sums, other_strand.sums, rtol=1e-12, atol=1e-12)
    swap = {"matched": "flipped", "flipped": "matched"}
    snps = (scoring.variants["effect_allele"].str.len() == 1).to_numpy()  # an indel's complement is not a flip
    assert other_strand.report["status"][snps].tolist() == as_written.report["status"][snps].replace(swap).tolist()


@SETTINGS
@given(dosage=st.lists(st.lists(st.sampled_from([-1, 0, 1, 2]), min_size=5, max_size=5), min_size=1, max_size=6),
       weights=st.lists(st.floats(-5, 5, allow_nan=False), min_size=6, max_size=6))
def test_swapping_ref_and_alt_in_the_vcf_gives_the_same_sums(dosage: list[list[int]], weights: list[float]) -> None:
    alt = np.array(dosage, dtype=np.int8)
    records = [VcfRecord(1, 100 * (i + 1), f"rs{i}", "C", ("T",), "normal") for i in range(len(alt))]
    score = pd.DataFrame({"rsid": [r.rsid for r in records], "chrom": 1, "pos": [r.pos for r in records],
                          "effect_allele": "T", "other_allele": "C", "effect_weight": weights[:len(alt)],
                          "kind": "normal"})
    sums = []
    with tempfile.TemporaryDirectory() as tmp:
        write_pgs_file(Path(tmp) / "s.txt", score, "S")
        scoring = read_scoring_file(Path(tmp) / "s.txt")
        for swapped in (False, True):
            vcf = Path(tmp) / f"{swapped}.vcf"
            recs = [dataclasses.replace(r, ref="T", alts=("C",)) if swapped else r for r in records]
            write_vcf_lines(vcf, [f"S{j}" for j in range(5)], recs, _haplotypes(alt, swapped))
            result = score_many(read_calls(vcf, wanted_sites([scoring])), [scoring])[0]
            assert set(result.report["orientation"]) == {"effect=REF" if swapped else "effect=ALT"}
            sums.append(result.sums.to_numpy())
    np.testing.assert_allclose(sums[0], sums[1], rtol=1e-12, atol=1e-12)
    expected = np.where(alt < 0, 0, alt).T @ np.array(weights[:len(alt)])
    np.testing.assert_allclose(sums[0], expected, rtol=1e-9, atol=1e-9)


def _haplotypes(alt: np.ndarray, swapped: bool):  # noqa: ANN202
    for row in alt:
        first, second = (row >= 1).astype(np.int8), (row == 2).astype(np.int8)
        if swapped:
            first, second = 1 - first, 1 - second
        first[row < 0], second[row < 0] = -1, -1
        yield first, second, False


@SETTINGS
@given(cells=st.lists(st.lists(st.sampled_from(["0/0", "0/1", "1/0", "1/1", "./.", "0|1", "1|1", "1", "."]),
                               min_size=4, max_size=4), min_size=1, max_size=8),
       extra_field=st.booleans(), gz=st.booleans())
def test_gt_reader_agrees_with_cyvcf2(cells: list[list[str]], extra_field: bool, gz: bool) -> None:
    """Every layout (fixed-width fast path, GT:DP general path, haploid, phased, gzip) gives cyvcf2's dosages."""
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr2>", '##FORMAT=<ID=GT,Number=1,Type=String,Description="G">',
             '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="D">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\tD"]
    for i, row in enumerate(cells):
        gts = [f"{c}:7" for c in row] if extra_field else row
        lines.append(f"chr2\t{10 + i}\trs{i}\tG\tA\t.\tPASS\t.\t{'GT:DP' if extra_field else 'GT'}\t" + "\t".join(gts))
    text = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("g.vcf.gz" if gz else "g.vcf")
        path.write_bytes(gzip.compress(text) if gz else text)
        ours = read_calls(path, {("2", 10 + i) for i in range(len(cells))})
        theirs = read_genotypes(path)
    np.testing.assert_array_equal(ours.alt_dosage, theirs.alt_dosage)
    assert ours.samples == theirs.samples and ours.records_in == len(cells)


def test_half_calls_are_no_calls_and_multiallelic_calls_count_each_allele(tmp_path: Path) -> None:
    (tmp_path / "g.vcf").write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\n"
        "1\t5\t.\tA\tC,G\t.\t.\t.\tGT\t1/2\t2/2\t0/.\n1\t9\t.\tA\tG\t.\t.\t.\tGT\t./1\t0/1\t1/1\n")
    calls = read_calls(tmp_path / "g.vcf", {("1", 5), ("1", 9)})
    assert calls.allele_dosage(0, 2).tolist() == [1, 2, -1]
    assert calls.allele_dosage(0, 0).tolist() == [0, 0, -1]
    assert calls.alt_dosage[1].tolist() == [-1, 1, 2]  # cyvcf2 calls ./1 heterozygous; plink2 half-call m: no call


def test_gt_reader_errors_name_the_line_and_column(tmp_path: Path) -> None:
    head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n"
    for body, message in (("1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\tX/Y\n", "line 3: column 11: GT is not"),
                          ("1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\n", "line 3: 1 sample columns, the header names 2"),
                          ("1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/2\t0/0\n", "line 3: a GT allele index exceeds"),
                          ("1\tfive\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\n", "line 3: column POS")):
        (tmp_path / "g.vcf").write_text(head + body)
        with pytest.raises(VcfError, match=message):
            read_calls(tmp_path / "g.vcf", {("1", 5)})


@SETTINGS
@given(weights=st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=30),
       gz=st.booleans(), harmonised=st.booleans())
def test_scoring_file_round_trips_weights_exactly(weights: list[float], gz: bool, harmonised: bool) -> None:
    score = pd.DataFrame({"rsid": [f"rs{i}" for i in range(len(weights))], "chrom": 3,
                          "pos": np.arange(1, len(weights) + 1) * 10, "effect_allele": "A", "other_allele": "G",
                          "effect_weight": weights, "kind": "normal"})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("s.txt.gz" if gz else "s.txt")
        write_pgs_file(path, score, "PGS_X", harmonised)
        parsed = read_scoring_file(path)
    assert parsed.pgs_id == "PGS_X" and parsed.harmonised == harmonised
    assert parsed.genome_build == "GRCh38" and parsed.header["license"].startswith("Synthetic")
    assert parsed.variants["effect_weight"].tolist() == weights
    assert parsed.variants["pos"].tolist() == score["pos"].tolist()  # hm_pos, not the offset author position
    assert parsed.variants["line"].tolist() == list(range(13 if harmonised else 11, len(weights) + (13 if harmonised
                                                                                                     else 11)))


@pytest.mark.parametrize(("row", "message"), [
    ("rs1\t1\t100\tA\tG\tabc", "line 5: field effect_weight: 'abc' is not a finite number"),
    ("rs1\t1\t100\tA\tG\t", "line 5: field effect_weight: '' is not a finite number"),
    ("rs1\t1\t1e2x\tA\tG\t0.1", "line 5: field chr_position: '1e2x' is not a position"),
    ("rs1\t1\t100\tZ\tG\t0.1", "line 5: field effect_allele: must be DNA letters"),
    ("\t\t\tA\tG\t0.1", "line 5: field rsID: is empty and the row has no position either"),
])
def test_bad_scoring_rows_are_named_by_file_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("#format_version=2.0\n#pgs_id=PGS_BAD\nrsID\tchr_name\tchr_position\teffect_allele\t"
                    f"other_allele\teffect_weight\nrs0\t1\t50\tC\tT\t0.2\n{row}\n")
    with pytest.raises(ScoreError, match=f"{path}: {message}"):
        read_scoring_file(path)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "s.txt.gz"
    path.write_bytes(gzip.compress(b"#pgs_id=P\nrsID\tchr_name\tchr_position\teffect_allele\nrs1\t1\t5\tA\n"))
    with pytest.raises(ScoreError, match=r"line 2 \(column names\): missing column\(s\) effect_weight"):
        read_scoring_file(path)


def test_policies_keep_what_they_say(tmp_path: Path) -> None:
    fixture, scoring, calls = _fixture(3, 200, tmp_path)
    kinds = fixture.expected["kind"].to_numpy()
    keep_all = score_many(calls, [scoring], 0, MatchPolicy(keep_ambiguous=True, keep_multiallelic=True))[0]
    assert keep_all.report["status"][np.isin(kinds, ["ambiguous", "multiallelic"])].eq("matched").all()
    no_flips = score_many(calls, [scoring], 0, MatchPolicy(strand_flips=False))[0]
    assert no_flips.report["status"][kinds == "flip"].eq("missing").all()
    assert set(EXPECTED) == set(kinds)  # the fixture exercised every kind
