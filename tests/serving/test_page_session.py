"""The clinician page's signed session cookie: what it holds, and every way a bad one is refused.

These are the pure functions; tests/serving/test_clinician_page.py checks the same rules through the
running app (revocation, the role check, the browser's cookie jar).
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.auth import Caller
from serving.page_session import (
    CLOCK_SKEW_SECONDS,
    Session,
    SessionError,
    _b64,
    _mac,
    read_session,
    sign_session,
)

SECRET = b"s" * 32
NOW = 1_800_000_000.0
LIFETIME = 30 * 60
CALLER = Caller(key_id="key_0123456789ab", role="clinician")


def _claims_of(value: str) -> dict:
    part = value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _signed(claims: object) -> str:
    """A cookie with the right signature over arbitrary claims: what only the server could make."""
    body = f"v1.{_b64(json.dumps(claims).encode())}"
    return f"{body}.{_b64(_mac(SECRET, b'session', body))}"


def test_round_trip_names_key_id_role_and_expiry_only() -> None:
    value = sign_session(SECRET, CALLER, NOW, LIFETIME)
    assert read_session(SECRET, value, NOW + LIFETIME - 1, LIFETIME) == Session(
        key_id=CALLER.key_id, role="clinician", issued_at=int(NOW), expires_at=int(NOW) + LIFETIME)
    assert set(_claims_of(value)) == {"kid", "role", "iat", "exp", "sid"}
    assert value != sign_session(SECRET, CALLER, NOW, LIFETIME)  # each sign-in is its own session (CSRF token)


def test_signed_by_another_secret_is_refused() -> None:
    forged = sign_session(b"x" * 32, CALLER, NOW, LIFETIME)
    with pytest.raises(SessionError, match="bad signature"):
        read_session(SECRET, forged, NOW, LIFETIME)


@pytest.mark.parametrize("change", [{"role": "admin"}, {"kid": "key_ffffffffffff"}, {"exp": int(NOW) + 10 ** 6}])
def test_claims_changed_after_signing_are_refused(change: dict) -> None:
    value = sign_session(SECRET, CALLER, NOW, LIFETIME)
    version, _, signature = value.split(".")
    claims = {**_claims_of(value), **change}
    tampered = f"{version}.{_b64(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(SessionError, match="bad signature"):
        read_session(SECRET, tampered, NOW, LIFETIME)


def test_expired_session_is_refused_at_its_expiry_and_when_the_setting_is_lowered() -> None:
    value = sign_session(SECRET, CALLER, NOW, LIFETIME)
    with pytest.raises(SessionError, match="expired"):
        read_session(SECRET, value, NOW + LIFETIME, LIFETIME)
    with pytest.raises(SessionError, match="expired"):  # PMED_PAGE_SESSION_MINUTES lowered to 10 since sign-in
        read_session(SECRET, value, NOW + 10 * 60, 10 * 60)


def test_session_issued_in_the_future_is_refused() -> None:
    value = sign_session(SECRET, CALLER, NOW + CLOCK_SKEW_SECONDS + 5, LIFETIME)
    with pytest.raises(SessionError, match="future"):
        read_session(SECRET, value, NOW, LIFETIME)
    assert read_session(SECRET, sign_session(SECRET, CALLER, NOW + 5, LIFETIME), NOW, LIFETIME).key_id == CALLER.key_id


@pytest.mark.parametrize("value", ["", "pmed_" + "k" * 43, "v1", "v1..", "v1.abc", "v2.e30.AAAA", "v1.e30.AAAA..x"])
def test_malformed_values_are_refused(value: str) -> None:
    with pytest.raises(SessionError):
        read_session(SECRET, value, NOW, LIFETIME)


@pytest.mark.parametrize("claims", [
    [1, 2], {"kid": "k", "role": "clinician", "iat": "1", "exp": 2},
    {"kid": "k", "role": "clinician", "iat": True, "exp": 2 ** 40}, {"kid": "k", "iat": int(NOW), "exp": 2 ** 40},
])
def test_well_signed_claims_of_the_wrong_shape_are_refused(claims: object) -> None:
    with pytest.raises(SessionError, match="wrong shape"):
        read_session(SECRET, _signed(claims), NOW, LIFETIME)


def test_signature_over_unreadable_claims_is_refused() -> None:
    body = "v1.bm90IGpzb24"  # base64url of "not json"
    with pytest.raises(SessionError, match="unreadable"):
        read_session(SECRET, f"{body}.{_b64(_mac(SECRET, b'session', body))}", NOW, LIFETIME)


def test_a_csrf_token_is_no_session_signature() -> None:
    value = sign_session(SECRET, CALLER, NOW, LIFETIME)
    body = value.rsplit(".", 1)[0]
    with pytest.raises(SessionError, match="bad signature"):
        read_session(SECRET, f"{body}.{_b64(_mac(SECRET, b'csrf', body))}", NOW, LIFETIME)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from("ABCabc019-_.=+/ "))
def test_any_one_character_changed_is_refused(position: int, char: str) -> None:
    value = sign_session(SECRET, CALLER, NOW, LIFETIME)
    i = position % len(value)
    changed = value[:i] + char + value[i + 1:]
    if changed != value:
        with pytest.raises(SessionError):
            read_session(SECRET, changed, NOW, LIFETIME)
