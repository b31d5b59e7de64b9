"""The seed demo (its client, worker and HTTP service) in a venv of its own, for `scripts/bench_cli.py` to compare.

The seed is the public task-token demo this project grew from; its code is not part of this repository. Check it
out anywhere (`--seed-dir`); `install` makes a venv with exactly the versions its `poetry.lock` pins (every
package of the lock, `--no-deps`, so nothing newer sneaks in), on this machine's Python.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

# Lock entries that cannot apply on Linux / Python 3.11 (their markers exclude it).
NOT_FOR_THIS_PLATFORM = {"colorama", "exceptiongroup"}
READY_TIMEOUT_SECONDS = 60.0


def pinned_requirements(seed_dir: Path) -> list[str]:
    """`name==version` for every package the seed's poetry.lock pins."""
    lock = tomllib.loads((seed_dir / "poetry.lock").read_text())
    return sorted(f"{p['name']}=={p['version']}" for p in lock["package"] if p["name"] not in NOT_FOR_THIS_PLATFORM)


def install(seed_dir: Path, venv: Path) -> Path:
    """Create (or reuse) the seed's venv; its Python interpreter."""
    python = venv / "bin" / "python"
    marker = venv / ".stagegate-seed-lock"
    wanted = "\n".join(pinned_requirements(seed_dir))
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not on PATH (it installs the seed's pinned packages)")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)  # noqa: S603
    install_args = ["pip", "install", "--quiet", "--no-deps", "--compile-bytecode", "--python", str(python)]
    subprocess.run([uv, *install_args, *wanted.splitlines()], check=True)  # noqa: S603  # the lock's own pins
    marker.write_text(wanted)
    return python


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class SeedStack:
    """The seed's worker (with its callback web server) and HTTP service, started by us."""

    python: Path
    seed_dir: Path
    env: dict[str, str]
    processes: tuple[subprocess.Popen[bytes], ...]

    def client_command(self) -> list[str]:
        """One run of the seed's client: 0 s to answer, 0 s to call back, complete (it always waits)."""
        return [str(self.python), "-m", "client", "-ttr", "0", "-ttc", "0", "-a", "complete"]

    def stop(self) -> None:
        """Stop both processes by pid (each leads its own session)."""
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def start(
    python: Path, seed_dir: Path, *, temporal_address: str, worker_port: int, service_port: int, log_dir: Path
) -> SeedStack:
    """Start the seed's HTTP service and worker against `temporal_address`; wait until both listen."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TEMPORAL_CLUSTER_HOST": temporal_address,
        "TEMPORAL_CLUSTER_NAMESPACE": "default",
        "TEMPORAL_WORKER_IDENTITY": "seed-worker",
        "TEMPORAL_WORKER_HTTP_HOST": "127.0.0.1",
        "TEMPORAL_WORKER_HTTP_PORT": str(worker_port),
        "TEMPORAL_WORKER_HTTP_CALLBACK": f"http://127.0.0.1:{worker_port}/callback",
        "HTTP_API_HOST": f"http://127.0.0.1:{service_port}",
        "HTTP_API_TIMEOUT": "60",
        "SERVICE_HTTP_HOST": "127.0.0.1",
        "SERVICE_HTTP_PORT": str(service_port),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for module, port in (("http_service", service_port), ("worker", worker_port)):
            log = (log_dir / f"seed-{module}.log").open("wb")
            processes.append(
                subprocess.Popen(  # noqa: S603  # the seed's own module, in its own venv
                    [str(python), "-m", module],
                    cwd=seed_dir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while not _port_open(port):
                if processes[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the seed's {module} did not start; see {log_dir}/seed-{module}.log")
                time.sleep(0.2)
    except BaseException:
        SeedStack(python, seed_dir, env, tuple(processes)).stop()
        raise
    return SeedStack(python=python, seed_dir=seed_dir, env=env, processes=tuple(processes))
