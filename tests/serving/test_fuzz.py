"""schemathesis against the app's own OpenAPI schema: every operation, a fixed seed, >= 2,000 requests,
0 server errors and 0 responses that break the schema. Each operation is called with a key of a role
allowed to use it, so generated inputs reach the handlers instead of stopping at 401/403."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kernel.model_registry import registry_client
from kernel.settings import Settings
from serving.app import create_app, route_roles
from serving.auth import ROLES, KeyStore, issue_key
from serving.registry import ModelStore, load_by_alias
from tests.serving.conftest import auth

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 200
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
CALLS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzzed(trained_home: Settings) -> dict:
    """The app with its model loaded from the registry, and its own keys file (fuzzed POST /v1/keys adds keys)."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-keys-"))
    keys_file = folder / "keys.json"
    keys = {role: issue_key(keys_file, f"fuzz-{role}", role)[1] for role in ROLES}
    store = ModelStore(expected=["cad_risk"])
    store.put(load_by_alias(registry_client(trained_home), "cad_risk", "champion", folder / "cache"))
    app = create_app(trained_home, store=store, keys=KeyStore(keys_file))
    roles = {(method, path): sorted(r) for (method, path), r in route_roles(app).items() if r}
    return {"app": app, "keys": keys, "roles": roles}


def test_api_conforms_to_its_schema(fuzzed: dict) -> None:
    """Each operation in turn (the Python API; schemathesis' lazy pytest fixture does not run on pytest 9)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed["app"])
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        roles = fuzzed["roles"].get((operation.method.upper(), _route_path(operation.path)))
        headers = auth(fuzzed["keys"][roles[0]]) if roles else {}
        name = f"{operation.method.upper()} {operation.path}"
        try:
            _fuzz(operation, name, headers)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 (report every operation's failure)
            failures.append(f"{name}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


def _route_path(path: str) -> str:
    """The route a documented path is served by: ``/v1/models/cad_risk/predict`` (a typed per-model operation
    in the schema) is the generic ``/v1/models/{name}/predict`` route, so it is called with that route's key."""
    return re.sub(r"^/v1/models/[^/{]+/", "/v1/models/{name}/", path)


def _fuzz(operation: schemathesis.APIOperation, name: str, headers: dict[str, str]) -> None:
    """One operation's generated cases, each called with ``headers`` and checked, counted under ``name``."""

    @given(case=operation.as_strategy())
    @seed(20261128)
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def call(case: schemathesis.Case) -> None:
        CALLS[name] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    call()


def test_enough_requests_were_generated(fuzzed: dict) -> None:
    """Runs after the fuzzing above (file order): every operation called, >= 2,000 calls in all."""
    operations = {f"{m} {p}" for m, p in fuzzed["roles"]} | {"GET /health", "GET /ready"}
    operations = {op for op in operations if not op.startswith(("GET /clinician", "POST /clinician"))}
    assert operations <= set(CALLS), operations - set(CALLS)
    assert sum(CALLS.values()) >= 2000, CALLS
