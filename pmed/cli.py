"""The `pmed` command line: one subcommand per step, plus `demo`, which chains them for `make run`.

The CLI is a thin edge: it reads settings, calls the packages, and prints where the outputs went.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError

from kernel.settings import Settings

app = typer.Typer(help="pmed: genetic, lifestyle and EHR features -> XGBoost risk models in MLflow -> "
                       "explained predictions over HTTP.", no_args_is_help=True, add_completion=False)
features_app = typer.Typer(help="Build patient-level feature tables from raw files.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (stored hashed in PMED_HOME).", no_args_is_help=True)
app.add_typer(features_app, name="features")
app.add_typer(keys_app, name="keys")
data_app = typer.Typer(help="Prepare public cohorts as training tables (offline).", no_args_is_help=True)
app.add_typer(data_app, name="data")

DEMO_SPECS = ("cad_risk.yaml", "t2d_risk.yaml")
DEMO_TRIALS = (("train", 20000, 1), ("cal", 10000, 101), ("test", 10000, 201))  # as in README and docs/treatment.md
TREATMENT_MODEL = "antiplatelet_response"


def _say(message: str) -> None:
    typer.echo(f"[pmed] {message}")


def _fail(message: str) -> None:
    typer.secho(f"[pmed] error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def _settings() -> Settings:
    """Settings from PMED_* variables; a bad value is named without echoing it (it may be a secret)."""
    try:
        return Settings()
    except ValidationError as exc:
        _fail("; ".join(f"PMED_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()))
        raise  # unreachable: _fail exits


@app.command()
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

    settings = _settings()
    out = out or settings.demo_raw_dir
    n = patients or settings.demo_patients
    _say(f"simulating {n} patients (seed {seed or settings.seed}) into {out}")
    summary = simulate_cohort(out, n, seed if seed is not None else settings.seed, fhir=fhir)
    _say(f"done: {summary}")
    if fhir is not None:
        _say(f"FHIR R4 ({fhir}) -> {out / 'fhir'}")


@app.command("simulate-trial")
def simulate_trial_cmd(
    out: Annotated[Path, typer.Option(help="Folder for trial.csv, genotypes.vcf (CYP2C19) and truth.csv")],
    patients: Annotated[int, typer.Option(help="Trial size")] = 20000,
    seed: Annotated[int | None, typer.Option(help="Random seed [default: PMED_SEED]")] = None,
) -> None:
    """Write a seeded randomised clopidogrel-vs-ticagrelor trial with every patient's true effect (docs/treatment.md)."""
    from features.sim.trial import simulate_trial

    _say(f"simulating a {patients}-patient antiplatelet trial into {out}")
    _say(f"done: {simulate_trial(out, patients, seed if seed is not None else _settings().seed)}")


@app.command("train-treatment")
def train_treatment(
    trial: Annotated[Path, typer.Option(help="Randomised trial to fit on (pmed's trial format, docs/treatment.md)")],
    calibration: Annotated[Path | None, typer.Option(
        help="Simulated trial with truth.csv (other seed) to calibrate the 95% interval; a real trial has none"),
    ] = None,
    test: Annotated[Path | None, typer.Option(
        help="Trial to evaluate on; without it a held-out share of --trial is used")] = None,
    holdout: Annotated[float, typer.Option(help="Share of --trial held out for evaluation when --test is not given")
                       ] = 0.3,
) -> None:
    """Fit the antiplatelet_response S-learner ensemble, evaluate, log to MLflow, register; champion if gated in.

    Simulated trials (truth.csv beside trial.csv) are scored against the true effects; a real trial by what
    randomisation supports on held-out patients (each rule's estimated 1-year risk, the effect-ranking check).
    """
    from training.treatment_pipeline import fit_and_evaluate, gates_for, register

    for folder in (f for f in (trial, calibration, test) if f is not None):
        if not (folder / "trial.csv").is_file():
            _fail(f"{folder} holds no trial.csv (write one in pmed's trial format, docs/treatment.md, or run "
                  f"`pmed simulate-trial --out {folder}`)")
    settings = _settings()
    try:
        outcome = fit_and_evaluate(trial, calibration, test, holdout=holdout, quarantine_dir=settings.quarantine_dir)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits
    m = outcome.metrics
    quarantined = [settings.quarantine_dir / f"trial-{f.name}.csv" for f in (trial, calibration, test) if f is not None]
    _say(f"evaluated on {int(m['n_evaluated'])} patients the model never saw; rejected trial rows (file, line, "
         "field, rule): " + ", ".join(f"{sum(1 for _ in q.open()) - 1} in {q}" for q in quarantined))
    if outcome.simulated:
        _say(f"PEHE {m['pehe']:.4f}; 95% coverage {m['coverage_95']:.3f} (mean width {m['mean_width']:.4f}); "
             f"policy regret {m['policy_regret']:.4f} vs CPIC rule {m['cpic_regret']:.4f}")
    _say(f"estimated 1-year risk: model rule {m['est_model_risk']:.4f}, CPIC rule {m['est_cpic_risk']:.4f} "
         f"(difference {m['est_model_minus_cpic']:+.4f}, 95% CI {m['est_model_minus_cpic_ci_low']:+.4f} to "
         f"{m['est_model_minus_cpic_ci_high']:+.4f}); effect-ranking slope {m['blp_slope']:.2f} "
         f"(95% CI {m['blp_slope_ci_low']:.2f} to {m['blp_slope_ci_high']:.2f}; 1 = right size, 0 = no information)")
    if not outcome.simulated:
        _say("interval: the bootstrap's alone (sampling variance; no truth to calibrate it on), "
             "labelled so when served")
    outcome = register(outcome, trial, settings)
    for gate in gates_for(outcome):
        _say(f"gate {gate['name']}: {'pass' if gate['passed'] else 'FAIL'} ({gate['rule']}; value {gate['value']:.4f})")
    _say(f"MLflow run {outcome.run_id}; registered antiplatelet_response version {outcome.version}"
         + (" -> champion" if outcome.promoted else " (gates failed: champion not moved)"))


@features_app.command("build")
def build_features(
    raw: Annotated[Path | None, typer.Option(help="Folder of raw files [default: the demo cohort]")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: PMED_HOME/data/features/demo]")] = None,
    fhir: Annotated[Path | None, typer.Option(help="FHIR R4 Bundle (.json), NDJSON file or folder of them: the EHR "
                                                   "instead of the CSV extracts (lifestyle, VCF still from --raw)")] = None,
) -> None:
    """Read raw files, quarantine bad records, write features.parquet and outcomes.parquet."""
    from features.table import build_feature_table

    settings = _settings()
    raw, out = raw or settings.demo_raw_dir, out or settings.demo_features_dir
    if not raw.is_dir():
        _fail(f"{raw} does not exist (run `pmed simulate` or pass --raw)")
    quarantine = settings.quarantine_dir / f"{out.name}.csv"
    _say(f"building features from {raw}")
    if fhir is not None and not fhir.exists():
        _fail(f"{fhir} does not exist")
    report = build_feature_table(raw, out, settings.resolved_home / "links" / f"{out.name}.csv", quarantine, fhir=fhir)
    for line in report.summary_lines():
        _say(line)


@features_app.command("pgx")
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
        _fail(str(exc))
        raise  # unreachable: _fail exits
    counts = quality_counts(calls)
    _say(f"{calls['sample'].nunique()} samples; calls by quality: "
         + ", ".join(f"{n} {q}" for q, n in counts.items()))
    _say(f"{len(calls)} rows -> {out}")
    if quarantine is not None:
        _say(f"{rejected} input lines quarantined -> {quarantine}")
    if written:
        _say(f"{len(written)} outside-call files -> {outside_call_dir}")


@features_app.command("prs")
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
    from features.genetic.prs import MatchPolicy, ScoreError
    from features.genetic.prs_run import run_prs

    if missing not in ("zero", "mean"):
        _fail("--missing must be zero or mean")
    try:
        result = run_prs(vcf, score, out, min_overlap, MatchPolicy(keep_ambiguous, keep_multiallelic, strand_flips),
                         missing)  # type: ignore[arg-type]
    except (ScoreError, VcfError, OSError) as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits
    for pgs_id, counts in result.counts.items():
        _say(f"{pgs_id}: " + ", ".join(f"{n} {status}" for status, n in counts.items())
             + (f"; {result.no_calls[pgs_id]} samples with a no-call" if pgs_id in result.no_calls else ""))
    _say(f"match report -> {result.report}")
    if result.failures:
        _fail("; ".join(result.failures))
    _say(f"{result.samples} samples -> {result.table}")


@data_app.command("iwpc")
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
        _fail(str(exc))
        raise  # unreachable: _fail exits
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        prepared.table.to_csv(out, index=False)
    else:
        prepared.table.to_parquet(out, index=False)
    for line in prepared.summary_lines():
        _say(line)
    _say(f"{len(prepared.table)} rows -> {out}")


@app.command()
def train(
    spec: Annotated[Path, typer.Argument(help="Model spec, e.g. models/cad_risk.yaml")],
    features: Annotated[Path | None, typer.Option(help="Feature folder [default: the demo features]")] = None,
    table: Annotated[Path | None, typer.Option(help="Train on your own CSV/Parquet instead; the spec names its "
                                                    "id column, target and (declared) features")] = None,
) -> None:
    """Fit, calibrate, evaluate, log to MLflow, register; move `champion` only if the gates pass."""
    from training.data import DataError
    from training.pipeline import train_from_spec
    from training.spec import SpecError

    settings = _settings()
    try:
        outcome = train_from_spec(spec, features or settings.demo_features_dir, settings, progress=_say,
                                  table=table)
    except (SpecError, DataError) as exc:
        _fail(str(exc))
    for gate in outcome.gates:
        _say(f"gate {gate.name}: {'pass' if gate.passed else 'FAIL'} ({gate.rule}; value {gate.value:.3f})")
    _say(f"MLflow run {outcome.run_id}; registered {outcome.model_name} version {outcome.version} "
         "(evaluation report, figures and model card logged with the run)")
    if outcome.promoted:
        _say(f"alias champion -> {outcome.model_name} version {outcome.version}")
    else:
        _fail(f"gates failed: champion not moved (version {outcome.version} kept for inspection)")


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name")],
    version: Annotated[str, typer.Argument(help="Version to promote")],
    alias: Annotated[str, typer.Option(help="Alias to move")] = "champion",
    force: Annotated[bool, typer.Option(help="Promote even though its gates failed (recorded)")] = False,
) -> None:
    """Point an alias at a version whose promotion gates passed."""
    from training.promote import PromotionError, promote_version
    from training.tracking import configure_mlflow

    client = configure_mlflow(_settings())
    try:
        promote_version(client, name, version, alias, force)
    except PromotionError as exc:
        _fail(str(exc))
    _say(f"alias {alias} -> {name} version {version}" + (" (forced)" if force else ""))


@app.command("models")
def list_models() -> None:
    """List registered models: each version, its gate result, its headline test metric and aliases.

    Risk models: AUROC; dose models: MAE and PW20; treatment models: PEHE and 95% coverage (simulated
    trial) or the model rule's estimated risk beside the CPIC rule's (real trial).
    """
    from training.tracking import GATES_TAG, configure_mlflow

    client = configure_mlflow(_settings())
    registered = client.search_registered_models()
    if not registered:
        _say("no registered models yet (run `pmed train models/<name>.yaml`)")
    for model in registered:
        aliases: dict[str, list[str]] = {}
        for alias, version in model.aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        for mv in sorted(client.search_model_versions(f"name='{model.name}'"), key=lambda v: int(v.version)):
            metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            typer.echo(f"{model.name:21} v{mv.version:<4} gates {mv.tags.get(GATES_TAG, '?'):7} "
                       f"{_headline(metrics)}  {' '.join('@' + a for a in aliases.get(str(mv.version), []))}")


def _headline(metrics: dict[str, float]) -> str:
    """The test metric a version is judged by: MAE and PW20 for a dose model (it has no AUROC), PEHE and
    coverage (or, without truth, estimated risks) for a treatment model, else AUROC."""
    if "pehe" in metrics:
        return f"PEHE {metrics['pehe']:.4f}  coverage {metrics.get('coverage_95', float('nan')):.3f}"
    if "est_model_risk" in metrics:
        return (f"est. 1-year risk: model rule {metrics['est_model_risk']:.4f}, "
                f"CPIC {metrics.get('est_cpic_risk', float('nan')):.4f}")
    if "auroc" not in metrics and "mae" in metrics:
        pw20 = metrics.get("pw20")
        return f"MAE {metrics['mae']:.2f} mg/week  PW20 {'None' if pw20 is None else f'{pw20:.1f}%'}"
    auroc = metrics.get("auroc")
    return f"AUROC {auroc if auroc is None else f'{auroc:.3f}'}"


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who or what the key is for")],
    role: Annotated[str, typer.Option(help="clinician | application | data_scientist | admin")] = "application",
) -> None:
    """Issue an API key; it is printed once and stored only as a SHA-256 digest."""
    from serving.auth import ROLES, issue_key

    if role not in ROLES:
        _fail(f"role must be one of {', '.join(ROLES)}")
    key_id, key = issue_key(_settings().keys_file, name, role)  # type: ignore[arg-type]
    _say(f"key id {key_id} (role {role}); the key, shown once:")
    typer.echo(key)


@keys_app.command("list")
def list_keys() -> None:
    """Key ids, names, roles and state (never the keys or their digests)."""
    from serving.auth import read_keys

    keys = read_keys(_settings().keys_file)
    if not keys:
        _say("no keys issued yet (pmed keys create --name NAME --role ROLE)")
    for k in keys:
        typer.echo(f"{k.key_id}  {k.role:<14} {'revoked' if k.revoked else 'active ':<8} {k.created}  {k.name}")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by `pmed keys list`")]) -> None:
    """Revoke a key; a running server refuses it from its next request (no restart)."""
    from serving.auth import revoke_key

    key = revoke_key(_settings().keys_file, key_id)
    if key is None:
        _fail(f"no key with id {key_id}")
    _say(f"revoked {key.key_id} ({key.name}, role {key.role})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="[default: PMED_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="[default: PMED_PORT]")] = None,
) -> None:
    """Serve the champion of each model in PMED_SERVED_MODELS over HTTP (one process; SIGTERM drains)."""
    from serving.app import create_app
    from serving.server import serve as run_server

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = f"http://{host or settings.host}:{port or settings.port}"
    _say(f"serving {', '.join(settings.served_models)} @{settings.serve_alias} on {base} (OpenAPI docs at /docs)")
    for name in settings.served_models:
        _say(f"clinician page (risk and treatment models; sign in with a clinician key): {base}/clinician/{name}")
    run_server(create_app(settings), host=host or settings.host, port=port or settings.port)


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API at the end")] = True,
) -> None:
    """`make run`: simulate, build features, train and promote both risk models and the antiplatelet
    treatment-response model, then serve (reusing what exists)."""
    from kernel.model_registry import version_for_alias
    from training.tracking import configure_mlflow

    settings = _settings()
    if not (settings.demo_raw_dir / "patients.csv").is_file():
        simulate(out=None, patients=None, seed=None)
    else:
        _say(f"reusing demo cohort in {settings.demo_raw_dir}")
    if not (settings.demo_features_dir / "features.parquet").is_file():
        build_features(raw=None, out=None)
    else:
        _say(f"reusing feature table in {settings.demo_features_dir}")
    client = configure_mlflow(settings)
    for spec_file in DEMO_SPECS:
        name = spec_file.removesuffix(".yaml")
        current = version_for_alias(client, name, "champion")
        if current is None:
            train(spec=settings.models_dir / spec_file, features=None, table=None)
        else:
            _say(f"reusing {name} champion (version {current.version})")
    with_trial = _demo_trial(settings)
    _issue_demo_key(settings, with_trial)
    if serve_after:
        if with_trial and settings.served_models == Settings.model_fields["served_models"].default:
            os.environ["PMED_SERVED_MODELS"] = json.dumps([*settings.served_models, TREATMENT_MODEL])
        serve(host=None, port=None)


def _demo_trial(settings: Settings) -> bool:
    """The simulated antiplatelet trial and its treatment-response model; True when it has a champion to serve."""
    from kernel.model_registry import version_for_alias
    from training.tracking import configure_mlflow

    client = configure_mlflow(settings)
    current = version_for_alias(client, TREATMENT_MODEL, "champion")
    if current is not None:
        _say(f"reusing {TREATMENT_MODEL} champion (version {current.version})")
        return True
    folders = {role: settings.demo_trial_dir / role for role, _, _ in DEMO_TRIALS}
    for role, patients, seed in DEMO_TRIALS:
        if not (folders[role] / "trial.csv").is_file():
            simulate_trial_cmd(out=folders[role], patients=patients, seed=seed)
    train_treatment(trial=folders["train"], calibration=folders["cal"], test=folders["test"])
    return version_for_alias(client, TREATMENT_MODEL, "champion") is not None


def _issue_demo_key(settings: Settings, with_trial: bool = False) -> None:
    from serving.auth import issue_key

    given = settings.demo_api_key.get_secret_value() if settings.demo_api_key else None
    _, key = issue_key(settings.keys_file, "demo", "clinician", key=given, replace=True)
    base = f"http://{settings.host}:{settings.port}"
    _say("demo API key " + ("from PMED_DEMO_API_KEY" if given else "(new; set PMED_DEMO_API_KEY to fix it):"))
    if not given:
        typer.echo(key)
    _say("try it once /ready answers 200:")
    typer.echo(f'  curl -s -H "Authorization: Bearer {key}" {base}/v1/models/cad_risk')
    typer.echo(f'  curl -s -H "Authorization: Bearer {key}" -H "Content-Type: application/json" '
               f"-d @{_example_request(settings)} {base}/v1/models/cad_risk/predict")
    typer.echo(f"  {base}/clinician/cad_risk   (the clinician page, in a browser; sign in with this key)")
    if with_trial:
        typer.echo(f'  curl -s -H "Authorization: Bearer {key}" -H "Content-Type: application/json" '
                   f"-d @{_example_trial_request(settings)} {base}/v1/models/{TREATMENT_MODEL}/compare-treatments")
        typer.echo(f"  {base}/clinician/{TREATMENT_MODEL}   (the treatment-comparison page; same key)")


def _example_request(settings: Settings) -> Path:
    """Write a ready-to-send predict body built from the champion's typical feature values."""
    import tempfile

    from kernel.bundle import read_bundle
    from kernel.model_registry import download_version, version_for_alias
    from training.tracking import configure_mlflow

    client = configure_mlflow(settings)
    mv = version_for_alias(client, "cad_risk", "champion")
    path = settings.resolved_home / "demo-request.json"
    if mv is None:
        return path
    with tempfile.TemporaryDirectory() as tmp:
        spec = read_bundle(download_version(client, "cad_risk", str(mv.version), Path(tmp))).feature_spec
    body = {"patients": [{"patient_id": "demo-patient-1",
                          "features": {f["name"]: f["example"] for f in spec["features"]}}]}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def _example_trial_request(settings: Settings) -> Path:
    """A compare-treatments body: one patient of the demo test trial (a CYP2C19 intermediate metabolizer)."""
    from features.sim.trial import FEATURES, read_trial

    test = read_trial(settings.demo_trial_dir / "test")
    row = test[test["cyp2c19_phenotype"] == "Intermediate Metabolizer"].iloc[0]
    features = {name: None if row[name] != row[name] else float(row[name]) for name in FEATURES}
    path = settings.resolved_home / "demo-compare-request.json"
    body = {"patients": [{"patient_id": "demo-trial-patient-1", "features": features}]}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(app())
