"""VCF reading, PGS Catalog scores and PGx counts on tiny hand-written files with known answers."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.genetic.pgx import allele_counts
from features.genetic.prs import ScoreError, read_scoring_file, score, score_vcf, wanted_sites
from features.genetic.vcf import read_genotypes
from features.simulate import SimulationSummary

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
    counts = allele_counts(read_genotypes(files[0]))
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
    """`0/.` and `./1` observed one allele only: both readers (feature table and `pmed features prs`) call
    them missing, as plink2 does, instead of counting an allele nobody saw."""
    from features.genetic.calls import read_calls

    vcf = tmp_path / "half.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\tc\td\te\n"
                   "chr1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/.\t./1\t./.\t0|1\t1/1\n")
    assert read_genotypes(vcf, None).alt_dosage.tolist() == [[-1, -1, -1, 1, 2]]
    from features.genetic.vcf import site_key

    assert read_calls(vcf, {site_key("chr1", 100)}).alt_dosage.tolist() == [[-1, -1, -1, 1, 2]]
