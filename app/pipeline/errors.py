"""The two errors a pipeline user sees before anything starts: a bad file, a bad run input.

Kept apart from `app.pipeline.file` (YAML and JSON Schema parsers) so the CLI can catch them without importing
those parsers.
"""

from __future__ import annotations


class PipelineError(ValueError):
    """What is wrong with a pipeline file, and where: `FILE:LINE: stage 'NAME': FIELD: MESSAGE`."""

    def __init__(
        self, message: str, *, file: str, line: int | None = None, stage: str | None = None, field: str | None = None
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.stage = stage
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.stage is not None:
            parts.append(f"stage {self.stage}")
        if self.field is not None:
            parts.append(self.field)
        return ": ".join([*parts, self.message])


class InputError(ValueError):
    """A run input the pipeline cannot take (its schema, or a value its stages refer to, is missing)."""
