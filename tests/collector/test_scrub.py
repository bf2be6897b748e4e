"""The scrubber: rules, the default sensitive list, keyed hashing, and its invariants."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftd.collector.scrub import SENSITIVE_NAMES, Scrubber, normalise_key

KEY = b"0123456789abcdef-test-key"


def test_password_dropped_and_user_id_hashed_with_the_key() -> None:
    s = Scrubber({"user_id": "hash"}, hmac_key=KEY)
    event = {"model": "m", "password": "hunter2", "features": {"user_id": "u-17", "x": 1}}
    out = s.scrub(event)
    expected = hmac.new(KEY, b"u-17", hashlib.sha256).hexdigest()
    assert out == {"model": "m", "features": {"user_id": expected, "x": 1}}
    assert expected != hashlib.sha256(b"u-17").hexdigest()  # keyed, not a bare hash
    assert event["password"] == "hunter2"  # the input is not mutated


def test_names_match_whatever_the_spelling() -> None:
    s = Scrubber()
    out = s.scrub(
        {
            "API-Key": 1,
            "apiKey": 2,
            "db_password": 3,
            "Auth Token": 4,
            "ok": 5,
            "segments": {"E-Mail": "a@b", "region": "eu"},
        }
    )
    assert out == {"ok": 5, "segments": {"region": "eu"}}


def test_keep_overrides_the_default_list_and_default_can_be_off() -> None:
    assert Scrubber({"email": "keep"}).scrub({"email": "a@b"}) == {"email": "a@b"}
    assert Scrubber(default_sensitive=False).scrub({"password": "x"}) == {"password": "x"}
    assert Scrubber({"region": "drop"}).scrub({"region": "eu", "x": 1}) == {"x": 1}


def test_nested_lists_are_scrubbed() -> None:
    out = Scrubber().scrub({"items": [{"token": "t", "a": 1}, 2]})
    assert out == {"items": [{"a": 1}, 2]}


def test_unchanged_events_are_returned_as_is() -> None:
    event = {"model": "m", "features": {"x": 1}}
    assert Scrubber().scrub(event) is event


def test_hash_needs_a_key_and_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="hmac_key"):
        Scrubber({"user_id": "hash"})
    with pytest.raises(ValueError, match="rules"):
        Scrubber({"user_id": "zap"})  # type: ignore[dict-item]


def test_equal_values_hash_alike_across_json_number_spellings() -> None:
    s = Scrubber({"uid": "hash"}, hmac_key=KEY)
    assert (
        s.scrub({"uid": 7})["uid"] == s.scrub({"uid": 7.0})["uid"] == s.scrub({"uid": "7"})["uid"]
    )


keys = st.sampled_from(["password", "Email", "x", "user_id", "api_key", "region", "SSN", "n"])
values = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=5)),
    lambda inner: st.dictionaries(keys, inner, max_size=3) | st.lists(inner, max_size=2),
    max_leaves=8,
)


def _sensitive_survives(obj: Any) -> bool:
    if isinstance(obj, dict):
        return any(
            normalise_key(k) in SENSITIVE_NAMES
            or "password" in normalise_key(k)
            or "apikey" in normalise_key(k)
            or _sensitive_survives(v)
            for k, v in obj.items()
        )
    if isinstance(obj, list):
        return any(_sensitive_survives(v) for v in obj)
    return False


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # loaded CI machines
@given(st.dictionaries(keys, values, max_size=4))
def test_nothing_sensitive_survives_and_scrubbing_is_idempotent(event: dict[str, Any]) -> None:
    s = Scrubber({"user_id": "hash"}, hmac_key=KEY)
    once = s.scrub(event)
    assert not _sensitive_survives(once)
    assert all(_is_digest(v) for v in _values_of("user_id", once))
    plain = Scrubber()
    assert plain.scrub(plain.scrub(event)) == plain.scrub(event)


def _values_of(name: str, obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        own = [v for k, v in obj.items() if k == name]
        return own + [x for v in obj.values() for x in _values_of(name, v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _values_of(name, v)]
    return []


def _is_digest(value: Any) -> bool:
    return value is None or (
        isinstance(value, str) and len(value) == 64 and set(value) <= set("0123456789abcdef")
    )
