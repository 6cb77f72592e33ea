"""`pmed demo` (what `make run` runs): simulate a cohort, build its features, train and promote the 10-year CAD
survival model (``cad_risk``, time to event with censoring) and the 5-year T2D risk model, simulate the
antiplatelet trial and train its treatment-response model, register the demo key, print the curl lines to try,
then serve. Each step whose output already exists is reused, not redone; a cohort, feature table or champion
from before ``cad_risk`` became a survival model (no follow-up dates, no time-to-event columns, a binary
champion) is redone rather than reused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kernel.settings import Settings
from pmed.console import load_settings, say
from pmed.data_commands import build_features, simulate, simulate_trial_cmd
from pmed.examples import example_request, example_trial_request
from pmed.serve_commands import run_api
from pmed.train_commands import train, train_treatment

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEMO_SPECS = ("cad_risk.yaml", "t2d_risk.yaml")
FOLLOW_UP_FILE = "follow_up.csv"  # written by the simulator since cad_risk became a survival model
SURVIVAL_COLUMNS = ("cad_time_days", "cad_event")
DEMO_TRIALS = (("train", 20000, 1), ("cal", 10000, 101), ("test", 10000, 201))  # as in README and docs/treatment.md
TREATMENT_MODEL = "antiplatelet_response"


def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API at the end")] = True,
) -> None:
    """`make run`: simulate, build features, train and promote the CAD survival model, the T2D risk model and the
    antiplatelet treatment-response model, then serve (reusing what exists)."""
    from kernel.model_registry import version_for_alias
    from training.tracking import configure_mlflow

    settings = load_settings()
    raw, features = settings.demo_raw_dir, settings.demo_features_dir
    fresh_cohort = not (raw / "patients.csv").is_file() or not (raw / FOLLOW_UP_FILE).is_file()
    if fresh_cohort:
        simulate(out=None, patients=None, seed=None)
    else:
        say(f"reusing demo cohort in {raw}")
    if fresh_cohort or not has_survival_outcomes(features):
        build_features(raw=None, out=None)
    else:
        say(f"reusing feature table in {features}")
    client = configure_mlflow(settings)
    for spec_file in DEMO_SPECS:
        name = spec_file.removesuffix(".yaml")
        current = version_for_alias(client, name, "champion")
        if current is None or not champion_fits_spec(client, current.run_id, settings.models_dir / spec_file):
            train(spec=settings.models_dir / spec_file, features=None, table=None)
        else:
            say(f"reusing {name} champion (version {current.version})")
    with_trial = demo_trial(settings)
    issue_demo_key(settings, with_trial)
    if serve_after:
        run_api(served_settings(settings, with_trial))


def has_survival_outcomes(features_dir: Path) -> bool:
    """A feature table built since the simulator records follow-up: outcomes carry the time-to-event columns."""
    import pandas as pd

    outcomes = features_dir / "outcomes.parquet"
    if not (features_dir / "features.parquet").is_file() or not outcomes.is_file():
        return False
    return set(SURVIVAL_COLUMNS) <= set(pd.read_parquet(outcomes).columns)


def champion_fits_spec(client: MlflowClient, run_id: str | None, spec_path: Path) -> bool:
    """Whether the champion was trained as the spec's task: a survival run logs its ``time_column``, a risk run
    does not (a cad_risk champion from before it became a survival model is retrained, not served)."""
    from training.spec import load_spec

    survival = load_spec(spec_path).task == "survival"
    params = client.get_run(run_id).data.params if run_id else {}
    return ("time_column" in params) == survival


def served_settings(settings: Settings, with_trial: bool) -> Settings:
    """The settings the demo serves with: the treatment model joins the default served models when it has a
    champion; a PMED_SERVED_MODELS the user set is served as given."""
    if with_trial and settings.served_models == Settings.model_fields["served_models"].default:
        return settings.model_copy(update={"served_models": [*settings.served_models, TREATMENT_MODEL]})
    return settings


def demo_trial(settings: Settings) -> bool:
    """The simulated antiplatelet trial and its treatment-response model; True when it has a champion to serve."""
    from kernel.model_registry import version_for_alias
    from training.tracking import configure_mlflow

    client = configure_mlflow(settings)
    current = version_for_alias(client, TREATMENT_MODEL, "champion")
    if current is not None:
        say(f"reusing {TREATMENT_MODEL} champion (version {current.version})")
        return True
    folders = {role: settings.demo_trial_dir / role for role, _, _ in DEMO_TRIALS}
    for role, patients, seed in DEMO_TRIALS:
        if not (folders[role] / "trial.csv").is_file():
            simulate_trial_cmd(out=folders[role], patients=patients, seed=seed)
    train_treatment(trial=folders["train"], calibration=folders["cal"], test=folders["test"])
    return version_for_alias(client, TREATMENT_MODEL, "champion") is not None


def issue_demo_key(settings: Settings, with_trial: bool = False) -> None:
    """Register the demo's clinician key (PMED_DEMO_API_KEY, else a new one, printed) and print how to try it."""
    from serving.auth import issue_key

    given = settings.demo_api_key.get_secret_value() if settings.demo_api_key else None
    _, key = issue_key(settings.keys_file, "demo", "clinician", key=given, replace=True)
    base = f"http://{settings.host}:{settings.port}"
    say("demo API key " + ("from PMED_DEMO_API_KEY" if given else "(new; set PMED_DEMO_API_KEY to fix it):"))
    if not given:
        typer.echo(key)
    say("try it once /ready answers 200:")
    typer.echo(f'  curl -s -H "Authorization: Bearer {key}" {base}/v1/models/cad_risk')
    typer.echo(f'  curl -s -H "Authorization: Bearer {key}" -H "Content-Type: application/json" '
               f"-d @{example_request(settings)} {base}/v1/models/cad_risk/predict")
    typer.echo(f"  {base}/clinician/cad_risk   (the clinician page, in a browser; sign in with this key)")
    if with_trial:
        typer.echo(f'  curl -s -H "Authorization: Bearer {key}" -H "Content-Type: application/json" '
                   f"-d @{example_trial_request(settings)} {base}/v1/models/{TREATMENT_MODEL}/compare-treatments")
        typer.echo(f"  {base}/clinician/{TREATMENT_MODEL}   (the treatment-comparison page; same key)")
