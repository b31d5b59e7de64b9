"""What operators see, as plain text: service labels carry method and host only, texts fit Temporal's limits.

No Temporal here; `tests/gate/test_operator_metadata.py` reads the same texts back from a real server.
"""

from __future__ import annotations

import pytest

from app.gate.operator_view import (
    DETAILS_LIMIT_BYTES,
    SUMMARY_LIMIT_BYTES,
    Refusal,
    StageLine,
    StageView,
    activity_summary,
    clip,
    current_details,
    one_line,
    run_details,
    service_label,
    stage_title,
)
from app.pipeline.operator import declared_service
from app.pipeline.types import HttpRequestSpec


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("https://api.example.com/v1/checks?sig=abc&token=t0k", "POST api.example.com"),
        ("http://user:s3cret@10.0.0.5:8443/hooks/T000/B000/XXXX", "POST 10.0.0.5:8443"),
        ("http://[::1]:8001/request", "POST [::1]:8001"),
        ("not a url", "POST (no host)"),
    ],
)
def test_service_label_keeps_method_and_host_only(url: str, label: str) -> None:
    assert service_label("post", url) == label


@pytest.mark.parametrize(
    ("template", "label"),
    [
        ("${env.SERVICE_URL:-http://127.0.0.1:8001}/request", "POST ${env.SERVICE_URL}"),
        ("https://api.example.com/v1/${input.id}?key=${env.API_KEY}", "POST api.example.com"),
        ("${input.url}", "POST (host from input)"),
    ],
)
def test_a_pipeline_stage_declares_its_service_without_env_values(template: str, label: str) -> None:
    assert declared_service(HttpRequestSpec(method="POST", url=template)) == label


def test_texts_fit_temporals_limits_on_character_boundaries() -> None:
    assert len(one_line("é" * 1000).encode()) <= SUMMARY_LIMIT_BYTES
    assert "\n" not in one_line("a\nb")
    long = run_details("x" * 30_000, [StageLine("s", "signal", 1.0)])
    assert len(long.encode()) <= DETAILS_LIMIT_BYTES
    assert clip("short", 10) == "short"
    assert len(activity_summary(stage_title("k" * 500, 1, 2), "signal", "POST h").encode()) <= SUMMARY_LIMIT_BYTES


def test_current_details_name_stage_service_deadline_and_last_refusal() -> None:
    text = current_details(
        StageView(
            title=stage_title("kyc", 2, 3),
            mode="update",
            waiting_for="callback",
            service="POST api.example.com",
            since="2025-01-01T00:00:00+00:00",
            deadline="2025-01-01T01:00:00+00:00",
            progress=4,
            refusal=Refusal("unknown", "this run has no stage 'x'\n" + "y" * 500, "2025-01-01T00:30:00+00:00"),
        )
    )
    assert text.startswith("**stage 2 of 3 `kyc`** · mode `update`")
    for fact in ("POST api.example.com", "deadline: 2025-01-01T01:00:00", "progress events: 4", "unknown at"):
        assert fact in text
    assert "y" * 200 not in text  # a refusal's reason is cut short
