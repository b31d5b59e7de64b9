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
