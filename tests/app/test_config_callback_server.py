"""CALLBACK_HTTP and CALLBACK_LOOP: the callback server's uvicorn parser and loop, checked when read."""

from __future__ import annotations

import pytest

from app.errors import SettingsError
from app.runtime.config import load_settings


def test_defaults_are_auto() -> None:
    settings = load_settings({})
    assert (settings.callback_http, settings.callback_loop) == ("auto", "auto")


def test_choices_are_read() -> None:
    settings = load_settings({"CALLBACK_HTTP": "H11", "CALLBACK_LOOP": "asyncio"})
    assert (settings.callback_http, settings.callback_loop) == ("h11", "asyncio")


@pytest.mark.parametrize(("name", "value"), [("CALLBACK_HTTP", "http2"), ("CALLBACK_LOOP", "trio")])
def test_unknown_choice_is_a_settings_error(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{name} must be one of"):
        load_settings({name: value})


def test_connection_hygiene_defaults_and_overrides() -> None:
    s = load_settings({})
    assert (
        s.callback_header_timeout_seconds,
        s.callback_body_timeout_seconds,
        s.callback_keepalive_timeout_seconds,
        s.callback_max_connections,
        s.callback_max_header_bytes,
    ) == (10.0, 15.0, 5, 1000, 16384)
    given = load_settings(
        {
            "CALLBACK_HEADER_TIMEOUT": "2.5",
            "CALLBACK_BODY_TIMEOUT": "4",
            "CALLBACK_KEEPALIVE_TIMEOUT": "3",
            "CALLBACK_MAX_CONNECTIONS": "50",
            "CALLBACK_MAX_HEADER_BYTES": "8192",
        }
    )
    assert (given.callback_header_timeout_seconds, given.callback_max_connections) == (2.5, 50)


@pytest.mark.parametrize(
    "name",
    [
        "CALLBACK_HEADER_TIMEOUT",
        "CALLBACK_BODY_TIMEOUT",
        "CALLBACK_KEEPALIVE_TIMEOUT",
        "CALLBACK_MAX_CONNECTIONS",
        "CALLBACK_MAX_HEADER_BYTES",
    ],
)
def test_connection_hygiene_must_be_positive(name: str) -> None:
    with pytest.raises(SettingsError, match=f"{name} must be greater than 0"):
        load_settings({name: "0"})
