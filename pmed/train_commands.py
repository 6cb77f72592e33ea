"""The model-lifecycle commands: `train` (and its `--dry-run`), `train-treatment`, `spec check`, `spec init`,
`promote` and `models`. Each reads its options, calls the training package, and prints the gates, the registered
version and the alias (or, for a dry run, the counts per split)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pmed.console import fail, load_settings, say
from pmed.reports import headline, treatment_evaluation_lines

if TYPE_CHECKING:
    from training.task import RunInputs


def train_treatment(
    trial: Annotated[Path, typer.Option(help="Randomised trial to fit on (pmed's trial format, docs/treatment.md)")],
    calibration: Annotated[Path | None, typer.Option(
        help="Simulated trial with truth.csv (other seed) to calibrate the 95% interval; a real trial has none"),
    ] = None,
    test: Annotated[Path | None, typer.Option(
        help="Trial to evaluate on; without it a held-out share of --trial is used")] = None,
    holdout: Annotated[float, typer.Option(help="Share of --trial held out for evaluation when --test is not given")
                       ] = 0.3,
    spec: Annotated[Path | None, typer.Option(
        help="Model spec [default: PMED_MODELS_DIR/antiplatelet_response.yaml]")] = None,
) -> None:
    """Fit the antiplatelet_response S-learner ensemble, evaluate, log to MLflow, register; champion if gated in.

    Simulated trials (truth.csv beside trial.csv) are scored against the true effects; a real trial by what
    randomisation supports on held-out patients (each rule's estimated 1-year risk, the effect-ranking check).
    """
    from training.spec import SpecError, load_spec
    from training.treatment.pipeline import default_spec_path, fit_and_evaluate, gates_for, register

    trials = [f for f in (trial, calibration, test) if f is not None]
    for folder in trials:
        if not (folder / "trial.csv").is_file():
            fail(f"{folder} holds no trial.csv (write one in pmed's trial format, docs/treatment.md, or run "
                 f"`pmed simulate-trial --out {folder}`)")
    settings = load_settings()
    try:
        model_spec = load_spec(spec or default_spec_path(settings.models_dir))
        outcome = fit_and_evaluate(trial, calibration, test, holdout=holdout, quarantine_dir=settings.quarantine_dir,
                                   spec=model_spec)
    except (SpecError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    quarantined = [settings.quarantine_dir / f"trial-{f.name}.csv" for f in trials]
    for line in treatment_evaluation_lines(outcome.metrics, outcome.simulated, quarantined):
        say(line)
    outcome = register(outcome, trial, settings)
    for gate in gates_for(outcome):
        say(f"gate {gate.name}: {'pass' if gate.passed else 'FAIL'} ({gate.rule}; value {gate.value:.4f})")
    say(f"MLflow run {outcome.run_id}; registered {model_spec.name} version {outcome.version}"
        + (" -> champion" if outcome.promoted else " (gates failed: champion not moved)"))


def train(
    spec: Annotated[Path, typer.Argument(help="Model spec, e.g. models/cad_risk.yaml")],
    features: Annotated[Path | None, typer.Option(help="Feature folder [default: the demo features]")] = None,
    table: Annotated[Path | None, typer.Option(help="Train on your own CSV/Parquet instead; the spec names its "
                                                    "id column, target and (declared) features")] = None,
    trial: Annotated[Path | None, typer.Option(help="Treatment models: the randomised trial to fit on")] = None,
    calibration: Annotated[Path | None, typer.Option(help="Treatment models: a simulated trial for the interval")
                           ] = None,
    test: Annotated[Path | None, typer.Option(help="Treatment models: a trial to evaluate on")] = None,
    holdout: Annotated[float, typer.Option(help="Treatment models: share of --trial held out without --test")] = 0.3,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check the spec, read and split the data as training would and print patients and events "
                          "per split (with a warning when the test events are too few for the gates); fit, log and "
                          "register nothing")] = False,
) -> None:
    """Fit, calibrate, evaluate, log to MLflow, register; move `champion` only if the gates pass."""
    from training.data import DataError
    from training.pipeline import train_from_spec
    from training.spec import SpecError
    from training.task import RunInputs

    settings = load_settings()
    inputs = RunInputs(spec, features_dir=features or settings.demo_features_dir, table=table, trial=trial,
                       calibration=calibration, test=test, holdout=holdout, quarantine_dir=settings.quarantine_dir)
    if dry_run:
        _dry_run(spec, inputs)
        return
    try:
        outcome = train_from_spec(spec, inputs.features_dir, settings, progress=say, table=table, inputs=inputs)
    except (SpecError, DataError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    for gate in outcome.gates:
        say(f"gate {gate.name}: {'pass' if gate.passed else 'FAIL'} ({gate.rule}; value {gate.value:.3f})")
    say(f"MLflow run {outcome.run_id}; registered {outcome.model_name} version {outcome.version} "
        "(evaluation report, figures and model card logged with the run)")
    if outcome.promoted:
        say(f"alias champion -> {outcome.model_name} version {outcome.version}")
    else:
        fail(f"gates failed: champion not moved (version {outcome.version} kept for inspection)")


def _dry_run(spec_path: Path, inputs: RunInputs) -> None:
    """`train --dry-run`: print what training would see; errors exactly as training raises them."""
    from training.dry_run import dry_run
    from training.errors import DataError
    from training.spec import SpecError, load_spec

    try:
        report = dry_run(load_spec(spec_path), inputs, progress=say)
    except (SpecError, DataError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    for line in report.lines():
        say(line)


def init_spec(
    table: Annotated[Path, typer.Option(help="Your CSV/Parquet table, one row per patient")],
    target: Annotated[str | None, typer.Option(help="risk_classification: the 0/1 outcome column")] = None,
    time: Annotated[str | None, typer.Option(help="survival: days to the event or to censoring")] = None,
    event: Annotated[str | None, typer.Option(help="survival: 1 = event, 0 = censored")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the spec here [default: print it to stdout]")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists")] = False,
) -> None:
    """Write a starting spec for your table: kinds, levels, codes and ranges inferred, units and text left as TODO.

    Give --target COL (task risk_classification) or --time COL --event COL (task survival). The spec goes to
    stdout (notes to stderr) unless --out is given; an existing --out is kept unless --force. Then fill in every
    TODO, `pmed spec check FILE` and `pmed train FILE --table TABLE --dry-run` (docs/own-cohort.md).
    """
    from training.errors import DataError
    from training.spec_init import read_table, starting_spec

    if out is not None and out.exists() and not force:
        fail(f"{out} exists: choose another --out or add --force to overwrite it")
    try:
        spec = starting_spec(table, read_table(table), target=target, time=time, event=event)
    except DataError as exc:
        fail(str(exc))
    if out is None:
        typer.echo(spec.text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(spec.text, encoding="utf-8")
        say(f"wrote {out} (spec {spec.name})")
    for note in spec.notes:
        typer.echo(f"[pmed] {note}", err=True)


def check_specs(
    files: Annotated[list[Path], typer.Argument(help="Model specs, e.g. models/*.yaml")],
) -> None:
    """Validate model specs without training: OK per file, or one line naming the file and the key."""
    from training.spec import SpecError, load_spec

    failed = 0
    for path in files:
        try:
            load_spec(path)
        except SpecError as exc:
            failed += 1
            typer.secho(f"[pmed] error: {exc}", err=True, fg=typer.colors.RED)
        else:
            say(f"OK {path}")
    if failed:
        raise typer.Exit(code=1)


def promote(
    name: Annotated[str, typer.Argument(help="Registered model name")],
    version: Annotated[str, typer.Argument(help="Version to promote")],
    alias: Annotated[str, typer.Option(help="Alias to move")] = "champion",
    force: Annotated[bool, typer.Option(help="Promote even though its gates failed (recorded)")] = False,
) -> None:
    """Point an alias at a version whose promotion gates passed."""
    from training.promote import PromotionError, promote_version
    from training.tracking import configure_mlflow

    client = configure_mlflow(load_settings())
    try:
        promote_version(client, name, version, alias, force)
    except PromotionError as exc:
        fail(str(exc))
    say(f"alias {alias} -> {name} version {version}" + (" (forced)" if force else ""))


def list_models() -> None:
    """List registered models: each version, its gate result, its headline test metric and aliases.

    Risk models: AUROC; dose models: MAE and PW20; treatment models: PEHE and 95% coverage (simulated
    trial) or the model rule's estimated risk beside the CPIC rule's (real trial).
    """
    from training.tracking import GATES_TAG, configure_mlflow

    client = configure_mlflow(load_settings())
    registered = client.search_registered_models()
    if not registered:
        say("no registered models yet (run `pmed train models/<name>.yaml`)")
    for model in registered:
        aliases: dict[str, list[str]] = {}
        for alias, version in model.aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        for mv in sorted(client.search_model_versions(f"name='{model.name}'"), key=lambda v: int(v.version)):
            metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            typer.echo(f"{model.name:21} v{mv.version:<4} gates {mv.tags.get(GATES_TAG, '?'):7} "
                       f"{headline(metrics)}  {' '.join('@' + a for a in aliases.get(str(mv.version), []))}")
