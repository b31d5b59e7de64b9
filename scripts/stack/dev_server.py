"""The Temporal dev server of a stack: the one place that builds `temporal server start-dev` arguments.

`just up` (a SQLite file that outlives `down`, with the Web UI), the benchmark (in memory, headless) and the
reliability lab (a SQLite file, headless, killed and started again on it) all start it from here.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from app.gate import search_attributes
from scripts.stack.processes import ManagedProcess, kill, start_process, wait_port

# `--search-attribute Name=Type` spells the type as the CLI does.
_CLI_TYPES = {
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def dev_server_args(
    temporal_cli: str,
    port: int,
    *,
    db_file: Path | None = None,
    ui_port: int | None = None,
    log_level: str = "error",
) -> list[str]:
    """`temporal server start-dev` on 127.0.0.1:port with our search attributes registered.

    In memory unless `db_file` is given; headless unless `ui_port` is given.
    """
    args = [temporal_cli, "server", "start-dev"]
    # Right after start-dev: `scripts/devstack.py` recognises its server by these contiguous tokens.
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    args += ["--ip", "127.0.0.1", "--port", str(port)]
    args += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
    for key in search_attributes.ALL:
        args += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type]}"]
    return [*args, "--log-level", log_level]


def dev_server_env() -> dict[str, str]:
    """This environment without OTEL_*: the dev server reads them too and refuses to start on values it does not
    support (OTEL_TRACES_EXPORTER=console, which `just up` users set for our own processes)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


@dataclass
class DevServer:
    """A dev server as a subprocess on its own port (and SQLite file, if given): killable and startable again."""

    cli: str
    port: int
    log_dir: Path
    db_file: Path | None = None
    proc: ManagedProcess | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> ManagedProcess:
        """Start it and wait until its gRPC port accepts connections (it has no HTTP health endpoint headless)."""
        args = dev_server_args(self.cli, self.port, db_file=self.db_file)
        self.proc = start_process(
            "temporal", args, env=dev_server_env(), log_dir=self.log_dir, python_module=False, append_log=True
        )
        wait_port(self.proc, self.port, timeout=timeout)
        return self.proc

    def kill(self) -> None:
        if self.proc is not None:
            kill(self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


async def connect(address: str, *, timeout: float = 60.0) -> Client:
    """A client of a dev server that has just started: it listens a moment before it serves, so retry until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await Client.connect(address, namespace="default")
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
