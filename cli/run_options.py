"""What `cli start` was asked for, validated, and its conversion to the workflow input."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from app.demo.payloads import Action, ServiceFaults, StagedRunInput
from app.gate.types import Mode


class OptionError(Exception):
    """A bad command-line value (reported as one line, exit code 2)."""


MODE_CHOICES = " | ".join(m.value for m in Mode)


def parse_mode(text: str, option: str = "--mode") -> Mode:
    """`signal`, `token` or `update`."""
    try:
        return Mode(text.strip().lower())
    except ValueError:
        raise OptionError(f"{option} must be one of {MODE_CHOICES}, got {text!r}") from None


def parse_stage_modes(text: str | None, stages: int) -> list[Mode]:
    """Per-stage mode overrides: empty, or a comma list with exactly one mode per stage."""
    if not text:
        return []
    modes = [parse_mode(part, "--stage-modes") for part in text.split(",") if part.strip()]
    if len(modes) != stages:
        raise OptionError(f"--stage-modes lists {len(modes)} modes for {stages} stages: give exactly {stages}")
    return modes


def parse_actions(text: str, stages: int) -> list[Action]:
    """One action for every stage, or a comma list with exactly one per stage."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise OptionError("--action needs at least one action")
    actions: list[Action] = []
    for name in names:
        try:
            actions.append(Action(name))
        except ValueError:
            choices = ", ".join(a.value for a in Action)
            raise OptionError(f"--action: unknown action {name!r} (choose from {choices})") from None
    if len(actions) not in (1, stages):
        raise OptionError(f"--action lists {len(actions)} actions for {stages} stages: give 1 or {stages}")
    return actions


@dataclass(frozen=True)
class RunOptions:
    """A validated run request from the command line."""

    mode: Mode
    stages: int
    actions: list[Action] = field(default_factory=lambda: [Action.COMPLETE])
    time_to_request: float = 0.5
    time_to_callback: float = 1.0
    stage_timeout: float = 300.0
    duplicate_deliveries: int = 0
    extra_delay: float = 0.0
    lose_callbacks: bool = False
    continue_as_new_after: int = 0
    stage_modes: list[Mode] = field(default_factory=list)

    def with_mode(self, mode: Mode) -> RunOptions:
        return replace(self, mode=mode)

    def to_input(self) -> StagedRunInput:
        return StagedRunInput(
            mode=self.mode,
            stages=self.stages,
            actions=list(self.actions),
            time_to_request=self.time_to_request,
            time_to_callback=self.time_to_callback,
            stage_timeout_seconds=self.stage_timeout,
            faults=ServiceFaults(
                duplicate_deliveries=self.duplicate_deliveries,
                extra_delay_seconds=self.extra_delay,
                lose_callbacks=self.lose_callbacks,
            ),
            continue_as_new_after_stages=self.continue_as_new_after,
            stage_modes=list(self.stage_modes),
        )
