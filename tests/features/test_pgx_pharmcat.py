"""PharmCAT report.tsv and outside-call files, hand-written in PharmCAT's documented formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.genetic.pgx import call_vcf
from features.genetic.pgx.pharmcat import PharmcatError, read_outside_calls, read_report, write_outside_calls
from features.quarantine import Quarantine
from pmed.cli import app

HEADER = ("Gene\tSource Diplotype\tPhenotype\tActivity Score\tHaplotype 1\tHaplotype 1 Function\t"
          "Haplotype 1 Activity Value\tHaplotype 2\tHaplotype 2 Function\tHaplotype 2 Activity Value\t"
          "Outside Call\tMatch Score\tMissing positions\tRecommendation Lookup Diplotype\t"
          "Recommendation Lookup Phenotype\tRecommendation Lookup Activity Score")
ROWS = [  # one gene per line, as PharmCAT 3.x writes them (single-sample mode, no Sample ID column)
    ("CYP2C19\t*1/*2\tIntermediate Metabolizer\t\t*1\tNormal function\t\t*2\tNo function\t\tno\t2\tno\t"
     "*1/*2\tIntermediate Metabolizer\t"),
    ("CYP2C9\t*1/*3\tIntermediate Metabolizer\t1.0\t*1\tNormal function\t1.0\t*3\tNo function\t0.0\tno\t2\tno\t"
     "*1/*3\tIntermediate Metabolizer\t1.0"),
    "SLCO1B1\t*1/*15 OR *5/*37\tDecreased Function / Decreased Function\t\t\t\t\t\t\t\tno\t2 / 2\tno\t\t\t",
    "DPYD\tc.1905+1G>A (*2A) AND c.2846A>T\t\t\t\t\t\t\t\t\tno\t\tno\t\t\t",
    ("VKORC1\trs9923231 reference (C)/rs9923231 variant (T)\t\t\trs9923231 reference (C)\t\t\t"
     "rs9923231 variant (T)\t\t\tno\t1\tyes\t\t\t"),
    "CYP3A5\t*3/*3\tPoor Metabolizer\t\t*3\tNo function\t\t*3\tNo function\t\tno\t1\tno\t\t\t",
    "CYP2B6\tno call\t\t\t\t\t\t\t\t\tno\t\tyes\t\t\t",
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def by_gene(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    return {r["gene"]: r for r in frame.to_dict("records")}


def test_report_tsv_rows_map_onto_the_call_frame(tmp_path: Path) -> None:
    quarantine = Quarantine()
    frame = read_report(write(tmp_path / "NA18526.report.tsv", [HEADER, *ROWS]), quarantine)
    rows = by_gene(frame)
    assert set(rows) == {"CYP2C19", "CYP2C9", "SLCO1B1", "DPYD", "VKORC1"}
    assert set(frame["sample"]) == {"NA18526"}  # from the file name
    assert (rows["CYP2C9"]["diplotype"], rows["CYP2C9"]["activity_score"]) == ("*1/*3", 1.0)
    assert rows["CYP2C19"]["call_quality"] == "called"
    slco = rows["SLCO1B1"]  # two diplotypes: ambiguous, but both readings agree on the phenotype
    assert (slco["call_quality"], slco["diplotype"], slco["phenotype"]) == ("ambiguous", None, "Decreased Function")
    assert rows["DPYD"]["call_quality"] == "ambiguous" and np.isnan(rows["DPYD"]["activity_score"])
    assert rows["VKORC1"]["call_quality"] == "incomplete"  # PharmCAT said positions were missing
    rejected = quarantine.frame()
    assert rejected[["row", "field"]].values.tolist() == [[7, "Gene"], [8, "Gene"]]  # CYP3A5, CYP2B6
    assert set(rejected["source_file"]) == {"NA18526.report.tsv"}
    assert "*3/*3" not in rejected.to_csv()  # the quarantine points at lines, it copies no values


def test_report_tsv_single_file_mode_and_disagreements(tmp_path: Path) -> None:
    lines = ["Sample ID\t" + HEADER,
             "P1\t" + ROWS[0],
             "P2\t" + ROWS[1].replace("\tIntermediate Metabolizer\t1.0\t*1", "\tPoor Metabolizer\t1.0\t*1", 1),
             "P3\t" + ROWS[1].replace("*1/*3", "*1/*9", 1),
             "P1\t" + ROWS[0]]
    quarantine = Quarantine()
    frame = read_report(write(tmp_path / "all.tsv", lines), quarantine)
    assert frame[["sample", "gene"]].values.tolist() == [["P1", "CYP2C19"]]
    assert quarantine.frame()[["row", "field"]].values.tolist() == [
        [3, "Phenotype"], [4, "Source Diplotype"], [5, "Gene"]]


def test_report_without_header_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PharmcatError, match=r"x.tsv: line 1, field Gene"):
        read_report(write(tmp_path / "x.tsv", ROWS), Quarantine())
    with pytest.raises(PharmcatError, match="line 1, field Missing positions"):
        read_report(write(tmp_path / "x.tsv", [HEADER.replace("\tMissing positions", ""), *ROWS]), Quarantine())


OUTSIDE = [
    "# outside calls for one sample",
    "CYP2C19\t*2/*17",
    "CYP2C9\t\t\t1.0",
    "SLCO1B1\t\tDecreased Function",
    "DPYD\tReference/c.2846A>T\tPM",
    "VKORC1\t-1639G/-1639A",
    "CYP2D6\t*1/*4",
    "CYP2C19\t*1/*1",
    "HLA-B\t\t*57:01 positive",
    "CYP2C9\t*1/*99",
    "SLCO1B1\t\tvery fast",
    "DPYD\t\t\tmany",
    "DPYD\ta\tb\tc\td",
]


def test_outside_calls_follow_pharmcat_precedence_and_quarantine_the_rest(tmp_path: Path) -> None:
    quarantine = Quarantine()
    rows = by_gene(read_outside_calls(write(tmp_path / "S9.outside.tsv", OUTSIDE), quarantine))
    assert rows["CYP2C19"]["phenotype"] == "Intermediate Metabolizer"
    assert (rows["CYP2C9"]["diplotype"], rows["CYP2C9"]["phenotype"]) == (None, "Intermediate Metabolizer")
    assert rows["SLCO1B1"]["phenotype"] == "Decreased Function"
    dpyd = rows["DPYD"]  # the activity score comes from the diplotype and wins; the given PM is a warning
    assert (dpyd["activity_score"], dpyd["phenotype"]) == (1.5, "Intermediate Metabolizer")
    assert "differs" in dpyd["reason"]
    assert rows["VKORC1"]["diplotype"] == "rs9923231 reference (C)/rs9923231 variant (T)"
    assert set(read_outside_calls(tmp_path / "S9.outside.tsv", Quarantine())["sample"]) == {"S9"}
    assert quarantine.frame()[["row", "field"]].values.tolist() == [
        [7, "gene"], [8, "gene"], [9, "gene"], [10, "diplotype"], [11, "phenotype"], [12, "activity score"],
        [13, "line"]]


def test_outside_calls_written_from_vcf_calls_read_back_the_same(tmp_path: Path) -> None:
    from tests.features.test_pgx_cpic import genotype, write_vcf

    samples = {"A": {**genotype("CYP2C9", "*1", "*3", True), **genotype("SLCO1B1", "*1", "*15", False)},
               "B": {**genotype("DPYD", "Reference", "c.2846A>T", True), **genotype("CYP2C19", "*2", "*17", True)}}
    calls = call_vcf(write_vcf(tmp_path / "g.vcf", samples))
    paths = write_outside_calls(calls, tmp_path / "oc")
    assert [p.name for p in paths] == ["A.outside.tsv", "B.outside.tsv"]
    back = {(r["sample"], r["gene"]): r for p in paths
            for r in read_outside_calls(p, Quarantine()).to_dict("records")}
    for r in calls.to_dict("records"):
        if r["phenotype"] is None:
            continue
        got = back[(r["sample"], r["gene"])]
        assert got["phenotype"] == r["phenotype"]
        assert got["diplotype"] == (r["diplotype"] if r["call_quality"] == "called" else None)
    assert back[("A", "SLCO1B1")]["diplotype"] is None  # ambiguous: only the agreed phenotype is passed on


def test_cli_writes_one_row_per_sample_and_gene_and_reports_counts(tmp_path: Path) -> None:
    from tests.features.test_pgx_cpic import genotype, write_vcf

    vcf = write_vcf(tmp_path / "g.vcf", {"A": genotype("CYP2C9", "*2", "*3", False), "B": {}})
    runner = CliRunner()
    result = runner.invoke(app, ["features", "pgx", "--vcf", str(vcf), "--out", str(tmp_path / "pgx.csv")])
    assert result.exit_code == 0, result.output
    assert "calls by quality: 9 called, 1 ambiguous" in result.output and "10 rows ->" in result.output
    report = write(tmp_path / "P7.report.tsv", [HEADER, *ROWS])
    result = runner.invoke(app, ["features", "pgx", "--pharmcat-report", str(report), "--out",
                                 str(tmp_path / "r.parquet")])
    assert result.exit_code == 0, result.output
    assert "2 input lines quarantined" in result.output and (tmp_path / "r.quarantine.csv").is_file()
    result = runner.invoke(app, ["features", "pgx", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "exactly one of --vcf" in result.output
