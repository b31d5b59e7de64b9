"""Token-mode callback URLs by activity IDs (v8tok): `run` + `act` instead of the attempt's task token.

The URL must name the activity (not one attempt of it) so that it survives a retry; every signed parameter is
pinned by the signature, the two forms cannot be mixed, and the older task-token URLs keep verifying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.errors import CallbackUrlError, CallbackUrlMissingParameterError
from app.gate.callback_urls import (
    CallbackSigner,
    CallbackTarget,
    build_callback_url,
    encode_token,
    sign_query,
    verify_callback_params,
)
from app.gate.shapes import CallbackShape
from app.gate.types import Mode

SECRET = "by-id-test-secret-0123456789abcdef"
NOW = 1_700_000_000
RUN_ID = "0193a4b2-7c1d-7e2f-9a3b-4c5d6e7f8091"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _target(**changes: object) -> CallbackTarget:
    base: dict[str, object] = {
        "mode": Mode.TOKEN,
        "workflow_id": "wf/with spaces&odd=chars",
        "stage": 2,
        "attempt": 1,
        "expires_at": NOW + 600,
        "run_id": RUN_ID,
        "activity_id": "1",
    }
    base.update(changes)
    return CallbackTarget(**base)  # type: ignore[arg-type]


def _items(target: CallbackTarget) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(build_callback_url("http://cb", SECRET, target)).query)


def _verify(items: list[tuple[str, str]], mode: Mode = Mode.TOKEN) -> CallbackTarget:
    return verify_callback_params(mode, items, [SECRET], now=NOW)


def test_round_trip_names_the_activity_not_the_attempt() -> None:
    target = _target()
    items = _items(target)
    assert [name for name, _ in items] == ["wf", "stage", "attempt", "run", "act", "exp", "sig"]
    verified = _verify(items)
    assert verified == target
    assert (verified.run_id, verified.activity_id, verified.task_token) == (RUN_ID, "1", None)


def test_golden_url_by_ids() -> None:
    # Pins the v3 canonical form: a change to it would orphan every URL handed out since v8tok.
    target = CallbackTarget(Mode.TOKEN, "wf-golden", 2, 1, 4102444800, run_id="run-golden", activity_id="1")
    url = (
        "https://cb.example/callbacks/token?wf=wf-golden&stage=2&attempt=1&run=run-golden&act=1&exp=4102444800"
        "&sig=VqMmcgRAukjzfRqZTYTGio_C2v173ME5y2NB95SShRM"
    )
    assert build_callback_url("https://cb.example", "golden-secret", target) == url
    assert verify_callback_params(Mode.TOKEN, parse_qsl(urlsplit(url).query), ["golden-secret"], now=NOW) == target
    # The v3 form written out: length-prefixed "v3", mode, wf, stage, attempt, run, act, exp; HMAC-SHA256.
    parts = ["v3", "token", "wf-golden", "2", "1", "run-golden", "1", "4102444800"]
    canonical = b"".join(len(p).to_bytes(4, "big") + p.encode() for p in parts)
    digest = hmac.new(b"golden-secret", canonical, hashlib.sha256).digest()
    assert url.endswith("&sig=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("wf", "another-run"),
        ("stage", "3"),
        ("attempt", "2"),
        ("run", "0193a4b2-7c1d-7e2f-9a3b-4c5d6e7f8092"),
        ("run", RUN_ID + " "),
        ("act", "2"),
        ("act", "10"),
        ("exp", str(NOW + 601)),
        ("traceparent", TRACEPARENT.replace("b7ad6b7169203331", "00f067aa0ba902b7")),
        ("snd", "mallory"),
    ],
)
def test_each_signed_parameter_is_pinned(name: str, value: str) -> None:
    items = _items(_target(traceparent=TRACEPARENT, sender="acme"))
    assert _verify(items).sender == "acme"
    tampered = [(k, value if k == name else v) for k, v in items]
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        _verify(tampered)


@pytest.mark.parametrize("name", ["traceparent", "snd"])
def test_optional_signed_parameters_cannot_be_dropped(name: str) -> None:
    items = _items(_target(traceparent=TRACEPARENT, sender="acme"))
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        _verify([(k, v) for k, v in items if k != name])


def test_run_and_act_cannot_trade_places() -> None:
    # Both are plain text: swapping their values must not verify (they are signed in fixed positions).
    target = _target(run_id="7", activity_id="7x")
    items = _items(target)
    swapped = [("run" if k == "act" else "act" if k == "run" else k, v) for k, v in items]
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        _verify(swapped)


def test_an_id_url_does_not_verify_as_a_token_url_or_the_reverse() -> None:
    # The same values signed in the v2 form (task token slot empty) are a different signature: no form confusion.
    params = {"wf": "w", "stage": "2", "attempt": "1", "run": "r", "act": "1", "exp": str(NOW + 60)}
    v2_sig = sign_query(SECRET, Mode.TOKEN, {k: v for k, v in params.items() if k not in ("run", "act")})
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        _verify([*params.items(), ("sig", v2_sig)])
    legacy = {"wf": "w", "stage": "2", "attempt": "1", "token": encode_token(b"\x01t"), "exp": str(NOW + 60)}
    legacy_sig = sign_query(SECRET, Mode.TOKEN, legacy)
    assert _verify([*legacy.items(), ("sig", legacy_sig)]).task_token == b"\x01t"
    # A valid legacy signature with `run`/`act` added is refused (both forms at once), never half-read.
    with pytest.raises(CallbackUrlError, match="not both"):
        _verify([*legacy.items(), ("run", "r"), ("act", "1"), ("sig", legacy_sig)])


def test_both_forms_signed_together_are_refused() -> None:
    params = {
        "wf": "w",
        "stage": "2",
        "attempt": "1",
        "token": encode_token(b"\x01t"),
        "run": "r",
        "act": "1",
        "exp": str(NOW + 60),
    }
    with pytest.raises(CallbackUrlError) as caught:
        _verify([*params.items(), ("sig", sign_query(SECRET, Mode.TOKEN, params))])
    assert caught.value.message == "a token-mode URL carries 'run' and 'act' or a 'token', not both"


@pytest.mark.parametrize("missing", ["run", "act"])
def test_half_an_id_is_a_missing_parameter(missing: str) -> None:
    items = [(k, v) for k, v in _items(_target()) if k != missing]
    with pytest.raises(CallbackUrlMissingParameterError) as caught:
        _verify(items)
    assert caught.value.message == f"query parameter {missing!r} is missing"
    assert (caught.value.code, caught.value.status_code) == ("missing_parameter", 401)
    emptied = [(k, "" if k == missing else v) for k, v in _items(_target())]
    with pytest.raises(CallbackUrlMissingParameterError):
        _verify(emptied)


def test_no_activity_at_all_is_a_missing_parameter() -> None:
    items = [(k, v) for k, v in _items(_target()) if k not in ("run", "act")]
    with pytest.raises(CallbackUrlMissingParameterError) as caught:
        _verify(items)
    assert (
        caught.value.message == "query parameters 'run' and 'act' are missing (or 'token', in a URL made before v8tok)"
    )
    assert caught.value.status_code == 401


@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.UPDATE])
@pytest.mark.parametrize("name", ["run", "act"])
def test_ids_only_belong_in_token_mode_urls(mode: Mode, name: str) -> None:
    params = {"wf": "w", "stage": "2", "attempt": "1", "exp": str(NOW + 60), name: "x"}
    with pytest.raises(CallbackUrlError) as caught:
        _verify([*params.items(), ("sig", sign_query(SECRET, mode, params))], mode)
    assert caught.value.message == f"query parameter {name!r} only belongs in token-mode URLs"


@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.UPDATE])
def test_an_id_url_is_not_valid_on_the_other_routes(mode: Mode) -> None:
    with pytest.raises(CallbackUrlError, match="only belongs in token-mode URLs"):
        _verify(_items(_target()), mode)


NO_IDS = "cannot sign a token-mode callback URL without its run ID and activity ID"
BOTH = "cannot sign a token-mode callback URL with both a task token and activity IDs"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"run_id": None}, NO_IDS),
        ({"activity_id": None}, NO_IDS),
        ({"run_id": ""}, NO_IDS),
        ({"activity_id": ""}, NO_IDS),
        ({"run_id": None, "activity_id": None}, NO_IDS),
        ({"task_token": b"\x01t"}, BOTH),
        ({"task_token": b"\x01t", "run_id": None}, BOTH),
        ({"task_token": b"\x01t", "activity_id": None}, BOTH),
        ({"mode": Mode.SIGNAL}, "cannot sign a signal-mode callback URL with a task token or activity IDs"),
        (
            {"mode": Mode.UPDATE, "run_id": None},
            "cannot sign a update-mode callback URL with a task token or activity IDs",
        ),
        (
            {"mode": Mode.UPDATE, "activity_id": None},
            "cannot sign a update-mode callback URL with a task token or activity IDs",
        ),
        (
            {"mode": Mode.SIGNAL, "run_id": None, "activity_id": None, "task_token": b"t"},
            "cannot sign a signal-mode callback URL with a task token or activity IDs",
        ),
    ],
)
def test_the_signer_refuses_a_target_it_cannot_name(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="cannot sign") as caught:
        CallbackSigner("http://cb", SECRET).url_for(_target(**changes))
    assert str(caught.value) == message


def test_a_legacy_token_target_still_signs_without_ids() -> None:
    target = _target(run_id=None, activity_id=None, task_token=b"\x01t")
    items = _items(target)
    assert [name for name, _ in items] == ["wf", "stage", "attempt", "token", "exp", "sig"]
    assert _verify(items) == target


@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.UPDATE])
def test_other_modes_sign_without_ids(mode: Mode) -> None:
    target = _target(mode=mode, run_id=None, activity_id=None)
    items = _items(target)
    assert [name for name, _ in items] == ["wf", "stage", "attempt", "exp", "sig"]
    assert _verify(items, mode) == target


def test_the_expiry_still_applies() -> None:
    items = _items(_target(expires_at=NOW - 1))
    with pytest.raises(CallbackUrlError) as caught:
        _verify(items)
    assert caught.value.reason == "expired"


def test_a_retry_gets_a_url_that_completes_the_same_activity() -> None:
    # Attempt 1 and attempt 2 name the same run and activity: either URL reaches the activity's current attempt.
    first, second = (_verify(_items(_target(attempt=n))) for n in (1, 2))
    assert (first.run_id, first.activity_id) == (second.run_id, second.activity_id)


# --- what the mutation run (`just mutation`) showed these tests did not pin down --------------------------------


def _base() -> dict[str, str]:
    return {"wf": "w", "stage": "2", "attempt": "1", "exp": str(NOW + 60)}


def test_sign_query_signs_a_lone_run_in_the_id_form() -> None:
    # Tools that probe the verifier sign odd forms: a `run` without `act` is still signed, not silently dropped.
    assert sign_query(SECRET, Mode.TOKEN, {**_base(), "run": "r"}) != sign_query(SECRET, Mode.TOKEN, _base())
    assert sign_query(SECRET, Mode.TOKEN, {**_base(), "act": "1"}) != sign_query(SECRET, Mode.TOKEN, _base())


def test_sign_query_signs_an_absent_id_part_as_empty_text() -> None:
    lone = sign_query(SECRET, Mode.TOKEN, {**_base(), "run": "r"})
    assert lone == sign_query(SECRET, Mode.TOKEN, {**_base(), "run": "r", "act": ""})


SHAPE = CallbackShape(outcome="state", completed=["done"], failed=["error"], result="output")


def test_a_shape_round_trips_in_an_id_url_and_is_signed_with_the_rest() -> None:
    target = _target(shape=SHAPE)
    items = _items(target)
    assert "shp" in dict(items)
    assert _verify(items) == target
    # With a shape present, every other parameter is still signed (not only the shape).
    for name, value in (("wf", "another"), ("act", "2"), ("run", "r2"), ("exp", str(NOW + 61))):
        with pytest.raises(CallbackUrlError, match="signature does not match"):
            _verify([(k, value if k == name else v) for k, v in items])
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        _verify([(k, v) for k, v in items if k != "shp"])


def test_a_signed_shape_that_does_not_decode_is_refused_by_name() -> None:
    # Only a worker of another version (holding the key) could sign one; the refusal still names the parameter.
    params = {**_base(), "run": "r", "act": "1", "shp": "bm90IGpzb24"}  # base64url of "not json"
    with pytest.raises(CallbackUrlError) as caught:
        _verify([*params.items(), ("sig", sign_query(SECRET, Mode.TOKEN, params))])
    assert caught.value.message == "query parameter 'shp': not an encoded callback shape"
