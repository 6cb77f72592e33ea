"""The commands that make tables from files: the simulators (`simulate`, `simulate-trial`), `pmed features ...`
and `pmed data iwpc`. Each reads its options, calls the features package, and prints where the output went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from pmed.console import fail, load_settings, say


def simulate(
    out: Annotated[Path | None,
                   typer.Option(help="Folder for the raw files [default: PMED_HOME/data/raw/demo]")] = None,
    patients: Annotated[int | None, typer.Option(help="Cohort size [default: PMED_DEMO_PATIENTS]")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed [default: PMED_SEED]")] = None,
    fhir: Annotated[Literal["ndjson", "bundle"] | None,
                    typer.Option(help="Also write the EHR extracts as FHIR R4 into OUT/fhir: NDJSON per resource "
                                      "type or a Bundle per patient (for `pmed features build --fhir`)")] = None,
) -> None:
    """Write a seeded synthetic cohort: VCF, PGS Catalog scoring files, EHR CSVs, questionnaire, truth."""
    from features.simulate import simulate_cohort

    settings = load_settings()
    out = out or settings.demo_raw_dir
    n = patients or settings.demo_patients
    say(f"simulating {n} patients (seed {seed or settings.seed}) into {out}")
    summary = simulate_cohort(out, n, seed if seed is not None else settings.seed, fhir=fhir)
    say(f"done: {summary}")
    if fhir is not None:
        say(f"FHIR R4 ({fhir}) -> {out / 'fhir'}")


def simulate_trial_cmd(
    out: Annotated[Path, typer.Option(help="Folder for trial.csv, genotypes.vcf (CYP2C19) and truth.csv")],
    patients: Annotated[int, typer.Option(help="Trial size")] = 20000,
    seed: Annotated[int | None, typer.Option(help="Random seed [default: PMED_SEED]")] = None,
) -> None:
    # one line, as long as it is: Typer's command list keeps a line break inside a docstring's first paragraph
    """Write a seeded randomised clopidogrel-vs-ticagrelor trial with every patient's true effect (docs/treatment.md)."""  # noqa: E501
    from features.sim.trial import simulate_trial

    say(f"simulating a {patients}-patient antiplatelet trial into {out}")
    say(f"done: {simulate_trial(out, patients, seed if seed is not None else load_settings().seed)}")


def build_features(
    raw: Annotated[Path | None, typer.Option(help="Folder of raw files [default: the demo cohort]")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: PMED_HOME/data/features/demo]")] = None,
    fhir: Annotated[Path | None, typer.Option(
        help="FHIR R4 Bundle (.json), NDJSON file or folder of them: the EHR "
             "instead of the CSV extracts (lifestyle, VCF still from --raw)")] = None,
) -> None:
    """Read raw files, quarantine bad records, write features.parquet and outcomes.parquet."""
    from features.table import build_feature_table

    settings = load_settings()
    raw, out = raw or settings.demo_raw_dir, out or settings.demo_features_dir
    if not raw.is_dir():
        fail(f"{raw} does not exist (run `pmed simulate` or pass --raw)")
    quarantine = settings.quarantine_dir / f"{out.name}.csv"
    say(f"building features from {raw}")
    if fhir is not None and not fhir.exists():
        fail(f"{fhir} does not exist")
    report = build_feature_table(raw, out, settings.resolved_home / "links" / f"{out.name}.csv", quarantine, fhir=fhir)
    for line in report.summary_lines():
        say(line)


def pgx_features(
    out: Annotated[Path, typer.Option(help="Output table, one row per sample and gene (.csv or .parquet)")],
    vcf: Annotated[Path | None, typer.Option(help="GRCh38 VCF (plain or bgzipped) to call from")] = None,
    pharmcat_report: Annotated[list[Path] | None, typer.Option(help="PharmCAT 3.x report.tsv (repeatable)")] = None,
    outside_calls: Annotated[list[Path] | None, typer.Option(help="PharmCAT outside-call TSV (repeatable)")] = None,
    sample: Annotated[str | None, typer.Option(help="Sample ID for a single PharmCAT file [default: from "
                                                    "its name, <sample>.report.tsv]")] = None,
    outside_call_dir: Annotated[Path | None, typer.Option(help="Also write <sample>.outside.tsv files here "
                                                               "(PharmCAT -po input)")] = None,
    assume_trans: Annotated[bool, typer.Option(help="Call unphased compound heterozygotes in trans instead "
                                                    "of flagging them ambiguous")] = False,
) -> None:
    """CPIC diplotype, phenotype and activity score for CYP2C9, CYP2C19, DPYD, SLCO1B1 and VKORC1."""
    from features.genetic.pgx import quality_counts
    from features.genetic.pgx.cli import PgxInputError, pgx_table

    try:
        calls, rejected, quarantine, written = pgx_table(out, vcf, pharmcat_report or [], outside_calls or [],
                                                         sample, outside_call_dir, assume_trans)
    except PgxInputError as exc:
        fail(str(exc))
    counts = quality_counts(calls)
    say(f"{calls['sample'].nunique()} samples; calls by quality: "
        + ", ".join(f"{n} {q}" for q, n in counts.items()))
    say(f"{len(calls)} rows -> {out}")
    if quarantine is not None:
        say(f"{rejected} input lines quarantined -> {quarantine}")
    if written:
        say(f"{len(written)} outside-call files -> {outside_call_dir}")


def prs_features(
    vcf: Annotated[Path, typer.Option(help="VCF, plain or (b)gzipped, GT first in FORMAT")],
    score: Annotated[list[Path], typer.Option(help="PGS Catalog scoring file, plain or .gz (repeatable)")],
    out: Annotated[Path, typer.Option(help="Output: one row per sample, <pgs_id>_SUM per score "
                                           "(.tsv, .csv or .parquet); the match report goes beside it")],
    min_overlap: Annotated[float, typer.Option(help="Fail a score matching fewer of its variants")] = 0.75,
    missing: Annotated[str, typer.Option(help="No-call policy: zero (plink2 no-mean-imputation) or mean "
                                              "(2 x the cohort's effect allele frequency)")] = "zero",
    keep_ambiguous: Annotated[bool, typer.Option(help="Score A/T and C/G SNPs assuming the VCF's strand")] = False,
    keep_multiallelic: Annotated[bool, typer.Option(help="Score effect alleles at multiallelic records")] = False,
    strand_flips: Annotated[bool, typer.Option(help="Match scores reported on the opposite strand")] = True,
) -> None:
    """Polygenic scores (sum of effect-allele dosage x weight, as plink2's SUM) with a per-variant match report."""
    from features.genetic.calls import VcfError
    from features.genetic.prs import MatchPolicy, MissingPolicy, ScoreError
    from features.genetic.prs_run import run_prs

    if missing not in ("zero", "mean"):
        fail("--missing must be zero or mean")
    policy: MissingPolicy = "mean" if missing == "mean" else "zero"
    try:
        result = run_prs(vcf, score, out, min_overlap, MatchPolicy(keep_ambiguous, keep_multiallelic, strand_flips),
                         policy)
    except (ScoreError, VcfError, OSError) as exc:
        fail(str(exc))
    for pgs_id, counts in result.counts.items():
        say(f"{pgs_id}: " + ", ".join(f"{n} {status}" for status, n in counts.items())
            + (f"; {result.no_calls[pgs_id]} samples with a no-call" if pgs_id in result.no_calls else ""))
    say(f"match report -> {result.report}")
    if result.failures:
        fail("; ".join(result.failures))
    say(f"{result.samples} samples -> {result.table}")


def data_iwpc(
    out: Annotated[Path, typer.Option(help="Output table (.parquet or .csv), one row per eligible patient")],
    any_target_inr: Annotated[bool, typer.Option(help="Keep patients whose target INR is outside 2-3 "
                                                      "(IWPC kept only 2-3)")] = False,
) -> None:
    """The IWPC warfarin cohort (needs `pip install -e '.[warfarin]'`) as a table for models/warfarin_dose.yaml."""
    from features.iwpc import IwpcUnavailable, load_raw_iwpc, prepare_iwpc

    try:
        prepared = prepare_iwpc(load_raw_iwpc(), target_inr_2_3=not any_target_inr)
    except IwpcUnavailable as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        prepared.table.to_csv(out, index=False)
    else:
        prepared.table.to_parquet(out, index=False)
    for line in prepared.summary_lines():
        say(line)
    say(f"{len(prepared.table)} rows -> {out}")
