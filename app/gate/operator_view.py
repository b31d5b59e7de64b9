"""What operators see of a run without a query: its summaries and current details, as Temporal markdown.

Temporal keeps user metadata where operators already look (the Web UI, `temporal workflow describe`): a
static summary and details given at start, summaries on activities and timers (written into the history
event that schedules them), and the workflow's *current details*, which the SDK answers from the worker's
memory (no history event). Everything here is plain text building, sandbox-safe and tested without a server.

What never goes in: a secret, a signed callback URL, a task token, a query string, or a URL path (paths can
be capabilities, e.g. Slack's webhook URLs). A service is shown as `METHOD host[:port]` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# Temporal's default limits on user metadata payloads (the server refuses larger ones): a summary's data
# 400 bytes, details 20,000 bytes. Summaries are also used as one-line titles.
SUMMARY_LIMIT_BYTES = 400
DETAILS_LIMIT_BYTES = 20_000
# Refusal reasons are ours (rules.py), but can quote what a sender sent: keep them short.
REASON_LIMIT_CHARS = 160
_ELLIPSIS = "…"


def clip(text: str, limit_bytes: int) -> str:
    """`text` cut (on a character boundary) so its UTF-8 form fits in `limit_bytes`, marked with an ellipsis."""
    data = text.encode()
    if len(data) <= limit_bytes:
        return text
    room = limit_bytes - len(_ELLIPSIS.encode())
    return data[:room].decode(errors="ignore") + _ELLIPSIS


def one_line(text: str, limit_bytes: int = SUMMARY_LIMIT_BYTES) -> str:
    """A single-line summary within the summary limit."""
    return clip(" ".join(text.split()), limit_bytes)


def service_label(method: str, url: str) -> str:
    """`POST api.example.com` for `https://user:pw@api.example.com/v1/x?sig=...`: method and host, nothing else."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        host, port = "", None
    if not host:
        return f"{method.upper()} (no host)"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{method.upper()} {host}:{port}" if port is not None else f"{method.upper()} {host}"


def stage_title(key: int | str, number: int, total: int | None) -> str:
    """`stage 2 of 3 `kyc``; a numbered stage (the demo's) is not named twice."""
    of = f" of {total}" if total else ""
    name = "" if isinstance(key, int) and key == number else f" `{key}`"
    return f"stage {number}{of}{name}"


def activity_summary(title: str, mode: str, service: str | None) -> str:
    """Summary of a stage activity: `request stage 2 of 3 `kyc` (signal): POST api.example.com`."""
    target = f": {service}" if service else ""
    return one_line(f"request {title} ({mode}){target}")


def timer_summary(title: str, deadline: str) -> str:
    """Summary of a gate's timeout timer."""
    return one_line(f"{title} timeout (deadline {deadline})")


def shared_timer_summary(summary: str) -> str:
    """Summary of the run's one deadline timer (v12): what armed it, which later stages may wait on too."""
    return one_line(f"{summary}; later stages share this timer")


def reconcile_summary(title: str) -> str:
    """Summary of a reconcile activity."""
    return one_line(f"ask the service about {title} (reconcile)")


@dataclass(frozen=True)
class Refusal:
    """The last callback the gate refused, for the current details."""

    verdict: str
    reason: str
    at: str


@dataclass(frozen=True)
class StageView:
    """Where one run's gate is, as the current details show it."""

    title: str
    mode: str
    waiting_for: str
    service: str | None
    since: str
    deadline: str
    progress: int
    attempts: int = 0
    refusal: Refusal | None = None
    stages_done: int = 0


_WAITING_WORDS = {
    "request": "the service to accept the request",
    "callback": "the callback",
    "activity_completion": "the callback (it completes the stage activity)",
    "reconcile": "the service's answer to a reconcile check",
}


def current_details(view: StageView) -> str:
    """The run's current details (Temporal markdown): one line per fact, bold stage title first."""
    lines = [
        f"**{view.title}** · mode `{view.mode}`",
        f"- waiting for: {_WAITING_WORDS.get(view.waiting_for, view.waiting_for)}",
        f"- service: {view.service or 'not declared'}",
        f"- since: {view.since}",
        f"- deadline: {view.deadline}",
        f"- progress events: {view.progress}",
    ]
    if view.attempts > 1:
        lines.append(f"- request attempts: {view.attempts}")
    if view.stages_done:
        lines.append(f"- stages done: {view.stages_done}")
    if view.refusal is not None:
        lines.append(f"- last refused callback: {_refusal(view.refusal)}")
    return clip("\n".join(lines), DETAILS_LIMIT_BYTES)


def idle_details(stages_done: int, refusal: Refusal | None = None, *, finished: bool = False) -> str:
    """Current details between stages and after the last one."""
    lines = [f"**{'finished' if finished else 'between stages'}** · stages done: {stages_done}"]
    if refusal is not None:
        lines.append(f"- last refused callback: {_refusal(refusal)}")
    return clip("\n".join(lines), DETAILS_LIMIT_BYTES)


def _refusal(refusal: Refusal) -> str:
    reason = clip(" ".join(refusal.reason.split()), REASON_LIMIT_CHARS)
    return f"{refusal.verdict} at {refusal.at}: {reason}"


# --- static summary and details, given when a run starts --------------------------------------------------


@dataclass(frozen=True)
class StageLine:
    """One stage as the static details list it."""

    name: str
    mode: str
    timeout_seconds: float
    service: str | None = None


def run_summary(what: str, mode: str, stages: int) -> str:
    """Static summary: `pipeline `kyc_esign` · mode signal · 3 stages`."""
    return one_line(f"{what} · mode {mode} · {stages} stage{'s' if stages != 1 else ''}")


def run_details(description: str, stages: Sequence[StageLine]) -> str:
    """Static details (markdown): what the run is, then one line per stage with its mode, timeout and service."""
    listed = []
    for number, stage in enumerate(stages, start=1):
        service = f" · {stage.service}" if stage.service else ""
        listed.append(f"{number}. `{stage.name}` · {stage.mode} · timeout {stage.timeout_seconds:g}s{service}")
    # A blank line between the description's paragraph and the list, as markdown wants.
    text = "\n\n".join(part for part in (" ".join(description.split()), "\n".join(listed)) if part)
    return clip(text, DETAILS_LIMIT_BYTES)
