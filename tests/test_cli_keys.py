"""`pmed keys create | list | revoke`: the key is shown once, listed never, and refused once revoked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernel.settings import Settings
from pmed.cli import app
from serving.auth import KeyStore, digest


def test_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--name", "ward-7", "--role", "clinician"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    key_id = created.output.split("key id ")[1].split()[0]
    keys_file = Settings(home=tmp_path / ".pmed", _env_file=None).keys_file
    assert KeyStore.load(keys_file).authenticate(key) is not None
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and key_id in listed.output and "active" in listed.output
    assert key not in listed.output and digest(key) not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in runner.invoke(app, ["keys", "list"]).output
    assert KeyStore.load(keys_file).authenticate(key) is None
    missing = runner.invoke(app, ["keys", "revoke", "key_nope"])
    assert missing.exit_code == 1 and "no key with id key_nope" in missing.output


def test_create_refuses_an_unknown_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    refused = CliRunner().invoke(app, ["keys", "create", "--name", "x", "--role", "nurse"])
    assert refused.exit_code == 1
    assert "role must be one of clinician, application, data_scientist, admin" in refused.output
    assert not Settings(home=tmp_path / ".pmed", _env_file=None).keys_file.exists()
