"""Custom search attributes: find runs by mode or by the stage they wait at."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

STAGE = SearchAttributeKey.for_int("StagegateStage")
MODE = SearchAttributeKey.for_keyword("StagegateMode")

ALL = (STAGE, MODE)


def at_start(mode: str) -> TypedSearchAttributes:
    """Attributes a run starts with, so list queries find it before its first stage."""
    return TypedSearchAttributes([SearchAttributePair(MODE, mode), SearchAttributePair(STAGE, 0)])
