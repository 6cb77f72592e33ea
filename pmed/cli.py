"""The `pmed` command line: one subcommand per step, plus `demo`, which chains them for `make run`.

The CLI is a thin edge: it reads settings, calls the packages, and prints where the outputs went. This module
only assembles the Typer app; the commands live by job in ``pmed.data_commands`` (files to tables),
``pmed.train_commands`` (train, check, promote, list), ``pmed.serve_commands`` (keys, serve) and ``pmed.demo``.
Every command imports its package lazily, so `pmed --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from pmed.data_commands import build_features, data_iwpc, pgx_features, prs_features, simulate, simulate_trial_cmd
from pmed.demo import demo
from pmed.serve_commands import create_key, list_keys, revoke, serve
from pmed.train_commands import check_specs, init_spec, list_models, promote, train, train_treatment

app = typer.Typer(help="pmed: genetic, lifestyle and EHR features -> XGBoost risk models in MLflow -> "
                       "explained predictions over HTTP.", no_args_is_help=True, add_completion=False)
features_app = typer.Typer(help="Build patient-level feature tables from raw files.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (stored hashed in PMED_HOME).", no_args_is_help=True)
data_app = typer.Typer(help="Prepare public cohorts as training tables (offline).", no_args_is_help=True)
spec_app = typer.Typer(help="Write a starting spec for your table, or check specs (models/*.yaml) without "
                             "training.", no_args_is_help=True)
app.add_typer(features_app, name="features")
app.add_typer(keys_app, name="keys")
app.add_typer(data_app, name="data")
app.add_typer(spec_app, name="spec")

# commands are listed in `pmed --help` in this order, then the groups above
app.command()(simulate)
app.command("simulate-trial")(simulate_trial_cmd)
app.command("train-treatment")(train_treatment)
app.command()(train)
app.command()(promote)
app.command("models")(list_models)
app.command()(serve)
app.command()(demo)

features_app.command("build")(build_features)
features_app.command("pgx")(pgx_features)
features_app.command("prs")(prs_features)
data_app.command("iwpc")(data_iwpc)
spec_app.command("check")(check_specs)
spec_app.command("init")(init_spec)
keys_app.command("create")(create_key)
keys_app.command("list")(list_keys)
keys_app.command("revoke")(revoke)

if __name__ == "__main__":
    sys.exit(app())
