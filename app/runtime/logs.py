"""One structlog setup for every process: JSON when not a terminal, console otherwise.

Our own (structlog) events in JSON are rendered by structlog and written to stderr directly; stdlib loggers'
records (Temporal's, uvicorn's) go through the stdlib handler with the same processors and renderer, so both
write the same kind of line. The direct path skips stdlib logging's record, handler and formatter: it halves
the cost of a line (the callback server writes one per callback).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
import temporalio.activity
import temporalio.workflow

from app.runtime.config import Settings


def configure_logging(settings: Settings) -> None:
    """Route structlog and stdlib logging (Temporal's and uvicorn's loggers too) through one renderer."""
    use_json = settings.log_format == "json" or (settings.log_format == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    handler = logging.StreamHandler(sys.stderr)
    if use_json:
        # ExtraAdder only reads stdlib records; the rest is the formatter's chain below, in the same order.
        direct = [p for p in shared if not isinstance(p, structlog.stdlib.ExtraAdder)]
        structlog.configure(
            processors=[*direct, structlog.processors.format_exc_info, renderer],
            logger_factory=_LineWriterFactory(handler),
            wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(settings.log_level)),
            cache_logger_on_first_use=True,
        )
    else:
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
    )
    if use_json:
        # The same activity info is already a structured field (`temporal_activity`); skip the dict repr.
        temporalio.activity.logger.activity_info_on_message = False
        temporalio.workflow.logger.workflow_info_on_message = False
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn installs its own handlers; make its loggers propagate to ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True


class _LineWriter:
    """Writes a rendered line to the stderr handler's stream, under the handler's lock (lines never interleave).

    Named like the stdlib logger it stands for, so `add_logger_name` writes the same `logger` field.
    """

    def __init__(self, name: str, stream: TextIO, handler: logging.Handler) -> None:
        self.name = name
        self._stream = stream
        self._handler = handler

    def msg(self, line: str) -> None:
        """Write one line and flush it, as the stdlib handler does; a failed write never fails the caller."""
        self._handler.acquire()
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: dropped, as logging.Handler.handleError does
            pass
        finally:
            self._handler.release()

    debug = info = warning = warn = error = exception = critical = fatal = log = msg


class _LineWriterFactory:
    """structlog's logger factory for the direct path: the logger's name as stdlib logging would have chosen it."""

    def __init__(self, handler: logging.StreamHandler[TextIO]) -> None:
        self._handler = handler
        # `get_logger()` without a name: the calling module's name, found past this module's frames too.
        self._names = structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__])

    def __call__(self, *args: object) -> _LineWriter:
        return _LineWriter(self._names(*args).name, self._handler.stream, self._handler)
