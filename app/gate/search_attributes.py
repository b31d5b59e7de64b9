"""Custom search attributes: find runs by mode (`StagegateStage` is only written by runs from before v6)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

STAGE = SearchAttributeKey.for_int("StagegateStage")
MODE = SearchAttributeKey.for_keyword("StagegateMode")

ALL = (STAGE, MODE)


def at_start(mode: str) -> TypedSearchAttributes:
    """Attributes a run starts with: its mode, so list queries find it (and the run need not upsert it)."""
    return TypedSearchAttributes([SearchAttributePair(MODE, mode)])
