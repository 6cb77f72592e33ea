"""pmed's PRS sums equal real plink2's `--score ... cols=+scoresums` on the variants and effect alleles pmed
matched, on VCFs with strand flips, ambiguous SNPs, no-calls, half calls, multiallelic and absent sites."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.genetic.calls import Calls, read_calls
from features.genetic.prs import MatchPolicy, match_all, read_scoring_file, wanted_ids, wanted_sites, weighted_sums
from features.genetic.prs_match import USED
from features.sim.prs_fixtures import PrsFixture, write_prs_fixture
from pmed.cli import app
from tests.conftest import require_tool

PLINK2_RTOL = 1e-5  # plink2 prints 6 significant digits


def plink2_score_file(report: pd.DataFrame, calls: Calls, path: Path, pgs_id: str) -> Path:
    """pmed's selection as a plink2 score file: ID chrom:pos (see --set-all-var-ids), the VCF's allele, weight."""
    used = report[report["status"].isin(USED)]
    sites = calls.sites.iloc[used["record"].to_numpy()]
    alleles = [(ref, *alts)[k] for ref, alts, k in zip(sites["ref"], sites["alts"], used["allele"], strict=True)]
    pd.DataFrame({"ID": (sites["chrom"] + ":" + sites["pos"].astype(str)).to_numpy(), "A1": alleles,
                  pgs_id: used["effect_weight"].map(repr).to_numpy()}).to_csv(path, sep="\t", index=False)
    return path


def run_plink2(vcf: Path, score_file: Path, out: Path, mean_imputation: bool = False) -> pd.DataFrame:
    modifiers = ["header-read", "cols=+scoresums"] + ([] if mean_imputation else ["no-mean-imputation"])
    command = [require_tool("plink2"), "--vcf", str(vcf), "--set-all-var-ids", "@:#", "--vcf-half-call", "missing",
               "--score", str(score_file), "1", "2", "3", *modifiers, "--threads", "1", "--memory", "1024",
               "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return pd.read_csv(out.with_suffix(".sscore"), sep="\t").set_index("#IID")


def pmed_vs_plink2(fixture: PrsFixture, tmp_path: Path, policy: MatchPolicy, missing: str = "zero"
                   ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    scoring = read_scoring_file(fixture.scoring)
    calls = read_calls(fixture.vcf, wanted_sites([scoring]), wanted_ids([scoring]))
    report = match_all(calls, [scoring], policy)[scoring.pgs_id]
    sums, _ = weighted_sums(calls, [report], missing)  # type: ignore[arg-type]
    score_file = plink2_score_file(report, calls, tmp_path / "plink2_score.tsv", scoring.pgs_id)
    theirs = run_plink2(fixture.vcf, score_file, tmp_path / "plink2", mean_imputation=missing == "mean")
    return sums[:, 0], theirs.loc[calls.samples, f"{scoring.pgs_id}_SUM"].to_numpy(), report


def test_cli_sums_equal_plink2_with_default_exclusions(tmp_path: Path) -> None:
    fixture = write_prs_fixture(tmp_path / "raw", n_samples=300, n_variants=200, seed=11)
    out = tmp_path / "out" / "prs.tsv"
    result = CliRunner().invoke(app, ["features", "prs", "--vcf", str(fixture.vcf), "--score", str(fixture.scoring),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "PGS_SIM_FAULTS: 160 matched, 10 flipped, 16 excluded, 14 missing" in result.output
    ours = pd.read_csv(out, sep="\t").set_index("sample")
    report = pd.read_csv(tmp_path / "out" / "prs.match.tsv", sep="\t", keep_default_na=False)
    assert report["status"].tolist() == fixture.expected["status"].tolist()
    _, theirs, _ = pmed_vs_plink2(fixture, tmp_path, MatchPolicy())
    assert (ours["PGS_SIM_FAULTS_MISSING_CT"] > 0).mean() > 0.5  # no-calls and half calls are in play
    np.testing.assert_allclose(ours["PGS_SIM_FAULTS_SUM"].to_numpy(), theirs, rtol=PLINK2_RTOL, atol=1e-9)


def test_sums_equal_plink2_keeping_ambiguous_and_multiallelic(tmp_path: Path) -> None:
    fixture = write_prs_fixture(tmp_path, n_samples=250, n_variants=300, seed=12, harmonised=True, gzipped=True)
    ours, theirs, report = pmed_vs_plink2(fixture, tmp_path, MatchPolicy(keep_ambiguous=True, keep_multiallelic=True))
    kinds = fixture.expected["kind"]
    assert report.loc[kinds.isin(["ambiguous", "multiallelic"]).to_numpy(), "status"].eq("matched").all()
    assert report["orientation"].str.match(r"effect=ALT\d").sum() == (kinds == "multiallelic").sum()
    np.testing.assert_allclose(ours, theirs, rtol=PLINK2_RTOL, atol=1e-9)


@pytest.mark.parametrize("seed", [13, 14])
def test_mean_imputation_equals_plink2_default(tmp_path: Path, seed: int) -> None:
    fixture = write_prs_fixture(tmp_path, n_samples=200, n_variants=150, seed=seed, missing_rate=0.05)
    ours, theirs, _ = pmed_vs_plink2(fixture, tmp_path, MatchPolicy(keep_multiallelic=True), missing="mean")
    np.testing.assert_allclose(ours, theirs, rtol=PLINK2_RTOL, atol=1e-9)
    zero, _, _ = pmed_vs_plink2(fixture, tmp_path, MatchPolicy(keep_multiallelic=True))
    assert not np.allclose(ours, zero)  # the policy changes the numbers: imputation really happened
