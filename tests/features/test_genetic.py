"""VCF reading, PGS Catalog scores and PGx counts on tiny hand-written files with known answers."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.genetic.calls import VcfError, read_calls
from features.genetic.pgx import allele_counts, wanted_pgx_sites
from features.genetic.pgx.counts import count_features
from features.genetic.prs import ScoreError, read_scoring_file, score, score_vcf, wanted_sites
from features.genetic.vcf import Genotypes, read_genotypes, site_key
from features.quarantine import Quarantine
from features.simulate import SimulationSummary
from features.table import PRS_FEATURES, genetic_features

VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1>
##contig=<ID=chr10>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1
chr1\t200\trs2\tC\tT\t.\tPASS\t.\tGT\t0/1\t./.\t1/1
chr1\t300\trs3\tG\tA,C\t.\tPASS\t.\tGT\t0/1\t0/2\t1/1
chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0
chr10\t94780653\trs4986893\tG\tA\t.\tPASS\t.\tGT\t0/0\t0/0\t./.
"""
SCORE = """###PGS CATALOG SCORING FILE
#format_version=2.0
#pgs_id=PGS_TEST
#genome_build=GRCh38
#license=CC0
rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight
rs1\t1\t100\tG\tA\t0.5
rs2\t1\t200\tC\tT\t0.25
rs9\t1\t900\tT\tC\t1.0
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "g.vcf").write_text(VCF)
    (tmp_path / "s.txt.gz").write_bytes(gzip.compress(SCORE.encode()))
    return tmp_path / "g.vcf", tmp_path / "s.txt.gz"


def test_score_sums_effect_dosages_times_weights(files: tuple[Path, Path]) -> None:
    scoring = read_scoring_file(files[1])
    assert scoring.pgs_id == "PGS_TEST" and scoring.header["license"] == "CC0"
    genotypes = read_genotypes(files[0], wanted_sites([scoring]))
    assert genotypes.multiallelic == 0  # rs3 is not wanted, so it is not even looked at
    result = score(genotypes, scoring, min_overlap=0.5)
    # rs1: effect G = ALT -> dosages 0,1,2; rs2: effect C = REF -> 2 - ALT dosage: 1, (missing), 0
    assert result.sums.to_dict() == pytest.approx({"S1": 0.25, "S2": 0.5, "S3": 1.0})
    assert result.missing_calls.to_dict() == {"S1": 0, "S2": 1, "S3": 0}
    assert result.counts() == {"matched": 2, "missing": 1}
    assert result.report["orientation"].tolist() == ["effect=ALT", "effect=REF", ""]


def test_low_overlap_fails_the_score(files: tuple[Path, Path]) -> None:
    scoring = read_scoring_file(files[1])
    with pytest.raises(ScoreError, match="only 67% of 3 variants"):
        score(read_genotypes(files[0], wanted_sites([scoring])), scoring)


def test_multiallelic_sites_are_skipped_and_counted(files: tuple[Path, Path]) -> None:
    genotypes = read_genotypes(files[0])
    assert genotypes.multiallelic == 1 and len(genotypes.records) == 4


def test_pgx_counts_flag_partial_calls_as_missing(files: tuple[Path, Path]) -> None:
    counts = allele_counts(read_calls(files[0], wanted_pgx_sites()))
    assert counts.loc["S1", "cyp2c19_no_function_alleles"] == 1
    assert counts.loc["S2", "cyp2c19_no_function_alleles"] == 2
    assert np.isnan(counts.loc["S3", "cyp2c19_no_function_alleles"])  # *3 uncalled: not guessed as *1
    assert counts["vkorc1_1639a_alleles"].isna().all()  # site absent from the VCF = no call


def test_simulated_vcf_gives_the_simulators_true_score(cohort: tuple[Path, SimulationSummary]) -> None:
    raw = cohort[0]
    truth = pd.read_csv(raw / "truth.csv", dtype={"patient_id": str}).set_index("patient_id")
    for file, column in (("pgs_cad.txt", "true_cad_prs_sum"), ("pgs_t2d.txt", "true_t2d_prs_sum")):
        result = score_vcf(raw / "genotypes.vcf", read_scoring_file(raw / file))
        assert set(result.counts()) == {"matched"}  # every variant matched, on the strand written
        complete = result.missing_calls == 0
        assert 0.3 < complete.mean() < 0.9  # ~2% no-calls over 30-40 variants
        expected = truth.loc[result.sums.index, column]
        np.testing.assert_allclose(result.sums[complete], expected[complete], rtol=1e-9, atol=1e-9)
        # a no-call contributes 0, so an incomplete sample scores at most its true sum (weights > 0)
        assert (result.sums[~complete] <= expected[~complete] + 1e-9).all()


def test_vcf_rejects_wanted_multiallelic_and_repeated_sites_with_line_numbers(tmp_path: Path) -> None:
    repeated = VCF + "chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t1/1\t1/1\t1/1\n"
    (tmp_path / "g.vcf").write_text(repeated)
    genotypes = read_genotypes(tmp_path / "g.vcf", {("1", 100), ("1", 300)})
    assert genotypes.records_in == 6 and len(genotypes.records) == 1
    assert genotypes.alt_dosage[0].tolist() == [0, 1, 2]  # the first record of a site wins
    assert [(line, field) for line, field, _ in genotypes.rejected] == [(8, "ALT"), (11, "POS")]


def test_half_calls_are_no_calls_in_both_vcf_readers(tmp_path: Path) -> None:
    """`0/.` and `./1` observed one allele only: both readers (cyvcf2 and the one the feature table and
    `pmed features prs` use) call them missing, as plink2 does, instead of counting an allele nobody saw."""
    vcf = tmp_path / "half.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\tc\td\te\n"
                   "chr1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/.\t./1\t./.\t0|1\t1/1\n")
    assert read_genotypes(vcf, None).alt_dosage.tolist() == [[-1, -1, -1, 1, 2]]
    assert read_calls(vcf, {site_key("chr1", 100)}).alt_dosage.tolist() == [[-1, -1, -1, 1, 2]]


def _cyvcf2_counts(genotypes: Genotypes) -> pd.DataFrame:
    """The feature table's PGx counts as computed before it moved to the numpy reader (the reference)."""
    columns = {}
    for feature, variants in count_features():
        total = np.zeros(len(genotypes.samples))
        for p, base in variants:
            row = genotypes.sites.get(site_key(p.chrom, p.pos))
            if row is None or genotypes.records[row].ref != p.ref or genotypes.records[row].alts[0] != base:
                total[:] = np.nan
                continue
            dosage = genotypes.alt_dosage[row].astype(float)
            dosage[dosage < 0] = np.nan
            total = total + dosage
        columns[feature] = np.where(total > 2, np.nan, total)
    return pd.DataFrame(columns, index=pd.Index(genotypes.samples, name="sample"))


def _inject(vcf: Path, out: Path) -> None:
    """The simulated VCF plus a repeat of a score site (all 1/1: must lose to the first record) and the
    CYP2C19*2 record turned multiallelic (the feature must become missing, the record quarantined)."""
    lines = vcf.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    fields = lines[first].rstrip("\n").split("\t")
    repeat = "\t".join(fields[:9] + ["1/1"] * (len(fields) - 9)) + "\n"
    star2 = next(i for i, line in enumerate(lines) if "\t94781859\t" in line)
    parts = lines[star2].split("\t")
    lines[star2] = "\t".join([*parts[:4], parts[4] + ",C", *parts[5:]])
    out.write_text("".join([*lines[:first + 1], repeat, *lines[first + 1:]]))


def test_table_genetic_stage_equals_the_cyvcf2_path_it_replaced(cohort: tuple[Path, SimulationSummary],
                                                                tmp_path: Path) -> None:
    raw = cohort[0]
    for file in PRS_FEATURES.values():
        (tmp_path / file).write_bytes((raw / file).read_bytes())
    _inject(raw / "genotypes.vcf", tmp_path / "genotypes.vcf")
    ids = pd.read_csv(raw / "patients.csv", dtype=str)["patient_id"]
    quarantine = Quarantine()
    ours, results, (counts,) = genetic_features(tmp_path, pd.Index(ids, name="patient_id"), quarantine)

    scorings = {name: read_scoring_file(tmp_path / file) for name, file in PRS_FEATURES.items()}
    genotypes = read_genotypes(tmp_path / "genotypes.vcf", wanted_sites(list(scorings.values())) | wanted_pgx_sites())
    theirs = pd.concat([_cyvcf2_counts(genotypes),
                        *(score(genotypes, s).sums.rename(n) for n, s in scorings.items())], axis=1)
    theirs = theirs.reindex(ours.index)
    counts_only = [c for c in ours.columns if not c.endswith("_prs_sum")]
    pd.testing.assert_frame_equal(ours[counts_only], theirs[counts_only], check_exact=True)
    # the sums agree to rounding: the block order of the dosage x weight product may differ by a record
    pd.testing.assert_frame_equal(ours.drop(columns=counts_only), theirs.drop(columns=counts_only), rtol=1e-12)
    assert ours["cyp2c19_no_function_alleles"].isna().all() and ours["cad_prs_sum"].notna().all()
    assert [r.counts() for r in results] == [{"matched": 40}, {"matched": 30}]
    lines = quarantine.frame()[["row", "field"]].to_records(index=False).tolist()
    assert lines == [(line, field) for line, field, _ in genotypes.rejected] and len(lines) == 2
    assert counts.rows_in == genotypes.records_in == 76
    assert (counts.rows_used, counts.rows_quarantined) == (len(genotypes.records), 2)


def test_malformed_vcf_records_are_quarantined_with_their_line(tmp_path: Path) -> None:
    """Bad POS, FORMAT, GT, sample count or allele index: the record is quarantined (line, field), the
    others still count; `pmed features prs` (strict) stops at the first instead."""
    bad = ["chr1\tone\trs5\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1",  # line 11: POS
           "chr1\t200\trs2\tC\tT\t.\tPASS\t.\tDP\t3\t4\t5",  # line 12: FORMAT (and a repeat of rs2)
           "chr16\t31096368\trs9923231\tC\tT\t.\tPASS\t.\tGT\t0/1\tX/1\t1/1",  # line 13: GT text
           "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/1\t1/1",  # line 14: two samples of three
           "chr10\t94981296\trs1057910\tA\tC\t.\tPASS\t.\tGT\t0/2\t0/0\t0/0"]  # line 15: index 2, one ALT
    (tmp_path / "genotypes.vcf").write_text(VCF + "\n".join(bad) + "\n")
    (tmp_path / "pgs_cad.txt").write_text(SCORE)
    with pytest.raises(VcfError, match="line 11: column POS"):
        read_calls(tmp_path / "genotypes.vcf", {("1", 100)})
    quarantine = Quarantine()
    with pytest.raises(ScoreError, match="only 67% of 3 variants"):  # the table keeps the CLI's overlap gate
        genetic_features(tmp_path, pd.Index(["S1", "S2", "S3"]), quarantine)
    (tmp_path / "pgs_cad.txt").write_text(SCORE.replace("rs9\t1\t900\tT\tC\t1.0\n", ""))
    quarantine = Quarantine()
    genetic, _, (counts,) = genetic_features(tmp_path, pd.Index(["S1", "S2", "S3"]), quarantine)
    found = quarantine.frame()[["row", "field"]].to_records(index=False).tolist()
    assert found == [(11, "POS"), (12, "FORMAT"), (13, "GT"), (14, "sample columns"), (15, "GT")]
    assert counts.rows_in == 10 and counts.rows_quarantined == 5
    assert counts.rows_in == counts.rows_used + counts.rows_ignored + counts.rows_quarantined
    assert genetic["cyp2c19_no_function_alleles"].tolist()[:2] == [1, 2]  # the good CYP2C19 records still count
    assert "X/1" not in quarantine.frame().to_csv()  # no genotype value is copied into the quarantine
