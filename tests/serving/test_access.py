"""Who may do what: every route x role x credential state, key management, deny by default."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.app import PUBLIC_PATHS, check_roles_declared, create_app, route_roles
from serving.auth import ROLES, issue_key, revoke_key
from serving.deps import CallerDep
from serving.page_form import PREFIX
from tests.serving.conftest import auth

ALL = set(ROLES)
METADATA = {"clinician", "application", "data_scientist"}
# The documented matrix (README, "Who may do what"); a new route must be added here and there.
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/metrics"): {"data_scientist", "admin"},
    ("GET", "/v1/models"): METADATA,
    ("GET", "/v1/models/{name}"): METADATA,
    ("GET", "/v1/models/{name}/card"): {"clinician", "data_scientist"},
    ("POST", "/v1/models/{name}/predict"): {"clinician", "application"},
    ("POST", "/v1/models/{name}/reload"): {"data_scientist"},
    ("GET", "/v1/keys"): {"admin"},
    ("POST", "/v1/keys"): {"admin"},
    ("DELETE", "/v1/keys/{key_id}"): {"admin"},
    ("POST", "/v1/models/{name}/what-if"): {"clinician", "application"},
    ("POST", "/v1/models/{name}/compare-treatments"): {"clinician", "application"},
    # the clinician page (bearer header or session cookie; login reads the key from its form)
    ("GET", "/clinician/{name}"): {"clinician"},
    ("POST", "/clinician/{name}"): {"clinician"},
    ("GET", "/clinician/{name}/card"): {"clinician"},
    ("POST", "/clinician/{name}/login"): {"clinician"},
    ("POST", "/clinician/{name}/logout"): {"clinician"},
}
STATES = ("none", "wrong", "revoked", "right")


@pytest.fixture(scope="module")
def keys(client: TestClient, api_keys: dict[str, str], trained_home: Settings) -> dict[str, dict[str, str]]:
    """A live and a revoked key per role; the revoked ones revoked through the admin API, after start."""
    _, admin = issue_key(trained_home.keys_file, "t-admin", "admin")
    live = {**api_keys, "admin": admin}
    revoked = {}
    for role in ROLES:
        issued = client.post("/v1/keys", json={"name": f"soon-revoked-{role}", "role": role}, headers=auth(admin))
        assert issued.status_code == 201, issued.text
        assert client.get("/v1/models", headers=auth(issued.json()["key"])).status_code in (200, 403)
        gone = client.delete(f"/v1/keys/{issued.json()['key_id']}", headers=auth(admin))
        assert gone.status_code == 200 and gone.json()["revoked"] is True
        revoked[role] = issued.json()["key"]
    return {"right": live, "revoked": revoked}


def _request(client: TestClient, method: str, path: str, key: str | None, trained_home: Settings,
             example: dict) -> int:
    """One call of the route with ``key`` as its credential (bearer header; the login form's field)."""
    client.cookies.clear()  # no session left over from an earlier login: the credential is only ``key``
    headers = {} if key is None or path.endswith("/login") else auth(key)
    url = path.replace("{name}", "cad_risk")
    if path == "/v1/keys/{key_id}":
        url = path.format(key_id=issue_key(trained_home.keys_file, "to-revoke", "application")[0])
    features = example["patients"][0]["features"]
    form = {"/clinician/{name}/login": {"api_key": key or ""},
            "/clinician/{name}": {"patient_ref": "p1", **{PREFIX + k: str(v) for k, v in features.items()}}}
    body = {"/v1/models/{name}/predict": example, "/v1/keys": {"name": "made-in-test", "role": "application"},
            "/v1/models/{name}/what-if": {"patient": example["patients"][0], "changes": {"ldl_mg_dl": 100.0}},
            "/v1/models/{name}/compare-treatments": example}
    if method == "POST" and path in form:
        return client.post(url, headers=headers, data=form[path], follow_redirects=False).status_code
    return client.request(method, url, headers=headers, json=body.get(path) if method == "POST" else None,
                          follow_redirects=False).status_code


@pytest.fixture(scope="module")
def example(client: TestClient, api_keys: dict[str, str]) -> dict:
    meta = client.get("/v1/models/cad_risk", headers=auth(api_keys["application"])).json()
    return {"patients": [{"patient_id": "p1", "features": {f["name"]: f["example"] for f in meta["features"]}}]}


def test_matrix_covers_every_guarded_route(client: TestClient) -> None:
    declared = {k: set(v) for k, v in route_roles(client.app).items() if k[1] not in PUBLIC_PATHS}
    assert declared == MATRIX


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_role_credential(client: TestClient, keys: dict, trained_home: Settings, example: dict,
                               route: tuple[str, str], role: str, state: str) -> None:
    method, path = route
    key = {"none": None, "wrong": "pmed_" + "x" * 43}[state] if state in ("none", "wrong") else keys[state][role]
    status = _request(client, method, path, key, trained_home, example)
    if state != "right":
        assert status == 401
    elif role in MATRIX[route] and path.endswith("/compare-treatments"):
        assert status == 404  # admitted; cad_risk (the only model here) is not a treatment model
    elif role in MATRIX[route]:
        assert status in (200, 201, 303)  # 303: the page's login and logout redirect to the form
    else:
        assert status == 403


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS - {"/docs/oauth2-redirect", "/redoc", "/docs"}))
def test_public_routes_return_no_patient_data_and_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_issued_key_is_shown_once_and_stored_hashed(client: TestClient, keys: dict, trained_home: Settings) -> None:
    admin = auth(keys["right"]["admin"])
    issued = client.post("/v1/keys", json={"name": "lab-system", "role": "application"}, headers=admin).json()
    listed = client.get("/v1/keys", headers=admin).json()["keys"]
    assert issued["key"] not in json.dumps(listed) and "sha256" not in json.dumps(listed)
    assert issued["key"] not in trained_home.keys_file.read_text()
    assert any(k["key_id"] == issued["key_id"] and not k["revoked"] for k in listed)
    events = (trained_home.audit_dir / "events.jsonl").read_text()
    assert issued["key"] not in events and issued["key_id"] in events
    assert client.delete("/v1/keys/key_doesnotexist", headers=admin).status_code == 404
    bad = client.post("/v1/keys", json={"name": "x", "role": "superuser"}, headers=admin)
    assert bad.status_code == 422


def test_keys_changed_by_another_process_apply_without_restart(client: TestClient, trained_home: Settings) -> None:
    key_id, key = issue_key(trained_home.keys_file, "cli-issued", "clinician")  # as `pmed keys create` does
    assert client.get("/v1/models", headers=auth(key)).status_code == 200
    revoke_key(trained_home.keys_file, key_id)
    assert client.get("/v1/models", headers=auth(key)).status_code == 401


def test_route_without_a_declared_role_is_refused_at_start(trained_home: Settings) -> None:
    app = create_app(trained_home)

    @app.get("/v1/authenticated-but-no-role")
    def leaky(caller: CallerDep) -> dict[str, str]:
        return {"who": caller.key_id}

    with pytest.raises(RuntimeError, match="GET /v1/authenticated-but-no-role"):
        check_roles_declared(app)
    with pytest.raises(RuntimeError, match="without a declared role"), TestClient(app):
        pass
