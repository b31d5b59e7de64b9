"""The sides a benchmark compares: the same gate advanced straight through the SDK (P0) or over HTTP (P1-P3)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.gate.types import Mode


class Via(StrEnum):
    """Who fires a stage's callback, and how it reaches Temporal."""

    SDK = "sdk"  # the bench itself, straight through the Temporal client: the platform's own limit
    HTTP = "http"  # the bench, as the external service, POSTs the signed callback URL to the callback server
    SERVICE_MOCK = "service_mock"  # the real service mock calls back (end to end; the bench does not see the moment)


@dataclass(frozen=True)
class Side:
    """One side of the comparison: a mode and the way its callbacks travel."""

    key: str
    label: str
    mode: Mode
    via: Via
    server: str = "a"  # HTTP sides: callback server A (the stack's own) or B (the A/B variant, when started)
    # HTTP sides: stagegate's own callback body, or a service's own body read with a callback shape (`--ab-shape`).
    body: str = "own"

    @property
    def own_key(self) -> str:
        """The own-body HTTP side a foreign-body side is compared with (itself for every other side)."""
        return self.key.removesuffix(SHAPE_SUFFIX) if self.body == "foreign" else self.key

    @property
    def baseline_key(self) -> str:
        """The P0 side of the same mode (what this side's ratios are taken against)."""
        return f"p0-{self.mode.value}"


SIDES: tuple[Side, ...] = (
    Side("p0-signal", "P0 signal (SDK)", Mode.SIGNAL, Via.SDK),
    Side("p0-token", "P0 token (SDK)", Mode.TOKEN, Via.SDK),
    Side("p0-update", "P0 update (SDK)", Mode.UPDATE, Via.SDK),
    Side("p1-signal", "P1 signal (HTTP)", Mode.SIGNAL, Via.HTTP),
    Side("p2-token", "P2 token (HTTP)", Mode.TOKEN, Via.HTTP),
    Side("p3-update", "P3 update (HTTP)", Mode.UPDATE, Via.HTTP),
    Side("e2e-signal", "E2E signal (service mock)", Mode.SIGNAL, Via.SERVICE_MOCK),
    Side("e2e-token", "E2E token (service mock)", Mode.TOKEN, Via.SERVICE_MOCK),
    Side("e2e-update", "E2E update (service mock)", Mode.UPDATE, Via.SERVICE_MOCK),
)
# HTTP sides through callback server B, run only when an A/B comparison starts one (`--ab-callback-env`).
B_SIDES: tuple[Side, ...] = tuple(
    Side(f"{s.key}-b", f"{s.label.replace('(HTTP)', '(HTTP, B)')}", s.mode, s.via, server="b")
    for s in SIDES
    if s.via is Via.HTTP
)
# HTTP sides whose callbacks are a service's own body through the stage's callback shape (`--ab-shape NAME`).
SHAPE_SUFFIX = "-shape"
SHAPE_SIDES: tuple[Side, ...] = tuple(
    Side(f"{s.key}{SHAPE_SUFFIX}", s.label.replace("(HTTP)", "(HTTP, foreign body)"), s.mode, s.via, body="foreign")
    for s in SIDES
    if s.via is Via.HTTP
)
BY_KEY = {side.key: side for side in (*SIDES, *B_SIDES, *SHAPE_SIDES)}


def side_of_workflow(workflow_id: str) -> Side | None:
    """Bench workflow IDs start with their side's key: `bench-<side key>-...` (the longest key that fits wins)."""
    fits = [side for side in BY_KEY.values() if workflow_id.startswith(f"bench-{side.key}-")]
    return max(fits, key=lambda side: len(side.key), default=None)


def parse_sides(text: str, *, with_b: bool = False, with_shape: bool = False) -> list[Side]:
    """`all`, or comma-separated side keys (`p0-signal,p1-signal`); unknown keys are a ValueError.

    With `with_b` (an A/B run), `all` adds the B twins, each right after its A side. With `with_shape` (a
    foreign-body run), `all` is the HTTP sides, each followed by its foreign-body twin (nothing else: the
    comparison is between those two).
    """
    if text.strip() in ("", "all") and with_shape:
        return [side for own in SIDES if own.via is Via.HTTP for side in (own, BY_KEY[own.key + SHAPE_SUFFIX])]
    if text.strip() in ("", "all"):
        if not with_b:
            return list(SIDES)
        twins = {side.key.removesuffix("-b"): side for side in B_SIDES}
        with_twins: list[Side] = []
        for side in SIDES:
            with_twins.append(side)
            if side.key in twins:
                with_twins.append(twins[side.key])
        return with_twins
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise ValueError(f"unknown side {', '.join(unknown)}; choose from {', '.join(BY_KEY)}")
    return [BY_KEY[k] for k in keys]
