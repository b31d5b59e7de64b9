"""Run the local stagegate stack (Temporal, worker, callbacks, mock) in background.

Each process is started directly (the Temporal CLI, and this interpreter with `-m <module>`: no `uv run`
wrapper), in a session of its own, with STAGEGATE_DEVSTACK=<state dir> in its environment. Its pid file holds
the process that listens; `down` stops it and anything else carrying this state dir's tag, so nothing is left
behind when a process crashed or a pid file was lost, and nothing this stack did not start is ever signalled.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from scripts.stack.dev_server import dev_server_args
from scripts.stack.processes import ROOT, python_command, start_process
from scripts.stack.services import CALLBACK_SERVER, SERVICE_MOCK, WORKER

DEFAULT_STATE_DIR = ROOT / ".state"
SETUP_TEMPORAL = ROOT / "scripts" / "setup_temporal.sh"
# Set in every process `up` starts: /proc/<pid>/environ then tells our processes from look-alikes.
TAG_VAR = "STAGEGATE_DEVSTACK"

LOCALHOST = "127.0.0.1"
POLL_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 10.0
LOG_TAIL_ON_FAILURE = 20
LOG_TAIL_DEFAULT = 50

# Health checks talk to 127.0.0.1 directly, whatever http_proxy/HTTP_PROXY say.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        sys.exit(f"devstack: {name}={raw!r} is not a port number")


def _temporal_grpc_port() -> int:
    address = os.environ.get("TEMPORAL_ADDRESS", "").strip() or "localhost:7233"
    _, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        sys.exit(f"devstack: TEMPORAL_ADDRESS={address!r} must look like host:port")
    return int(port)


@dataclass(frozen=True)
class StateDir:
    """Where the stack keeps its pid files, logs and the Temporal dev server's database (`--state-dir`)."""

    root: Path

    @property
    def pids(self) -> Path:
        """One `<name>.pid` per process."""
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        """One `<name>.log` per process."""
        return self.root / "logs"

    @property
    def temporal_db(self) -> Path:
        """The dev server's SQLite file: runs survive `down` and `up`."""
        return self.root / "temporal.db"

    def show(self, path: Path) -> str:
        """`path` relative to the project when it is inside it (the default), else absolute."""
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@dataclass(frozen=True)
class Service:
    """One background process of the stack and how to recognise and probe it."""

    state: StateDir
    name: str
    marker: tuple[str, ...]  # contiguous argv tokens that identify our process
    port: int  # the port its health check talks to (checked for conflicts before start)
    health: Callable[[float], bool]  # probe with the given timeout in seconds
    start_timeout_s: float
    urls: tuple[tuple[str, str], ...]
    # A command of its own (scripts/cluster's PostgreSQL and Temporal services) and what it adds to the environment.
    argv: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str], ...] = ()

    @property
    def pid_file(self) -> Path:
        """Where `up` records the pid."""
        return self.state.pids / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """Where the process writes stdout and stderr."""
        return self.state.logs / f"{self.name}.log"


def _tcp_open(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _http_answers(url: str, timeout: float, *, need_ok: bool) -> bool:
    """Whether url answers HTTP at all, or (need_ok) answers with a 2xx status."""
    try:
        with _NO_PROXY_OPENER.open(url, timeout=timeout) as response:
            status: int = response.status
            return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES
    except urllib.error.HTTPError:
        return not need_ok
    except (OSError, ValueError):
        return False


def _services(state: StateDir) -> list[Service]:
    grpc_port = _temporal_grpc_port()
    ui_port = _port_from_env("TEMPORAL_UI_PORT", 8233)
    metrics_port = _port_from_env("WORKER_METRICS_PORT", 9464)
    callback_port = _port_from_env("CALLBACK_PORT", 8000)
    service_port = _port_from_env("SERVICE_PORT", 8001)

    def temporal_health(timeout: float) -> bool:
        return _tcp_open(grpc_port, timeout) and _http_answers(f"http://{LOCALHOST}:{ui_port}/", timeout, need_ok=False)

    def http_ok(url: str) -> Callable[[float], bool]:
        return lambda timeout: _http_answers(url, timeout, need_ok=True)

    metrics_url = f"http://{LOCALHOST}:{metrics_port}/metrics"
    callback_url = f"http://{LOCALHOST}:{callback_port}/healthz"
    service_url = f"http://{LOCALHOST}:{service_port}/healthz"
    return [
        Service(
            state=state,
            name="temporal",
            marker=("server", "start-dev", "--db-filename", str(state.temporal_db)),
            port=grpc_port,
            health=temporal_health,
            start_timeout_s=60.0,
            urls=(
                ("Temporal gRPC", f"localhost:{grpc_port}"),
                ("Temporal Web UI", f"http://localhost:{ui_port}"),
            ),
        ),
        Service(
            state=state,
            name="worker",
            marker=("-m", WORKER),
            port=metrics_port,
            health=http_ok(metrics_url),
            start_timeout_s=30.0,
            urls=(("Worker metrics", f"http://localhost:{metrics_port}/metrics"),),
        ),
        Service(
            state=state,
            name="callback_server",
            marker=("-m", CALLBACK_SERVER),
            port=callback_port,
            health=http_ok(callback_url),
            start_timeout_s=30.0,
            urls=(("Callback server", f"http://localhost:{callback_port}"),),
        ),
        Service(
            state=state,
            name="service_mock",
            marker=("-m", SERVICE_MOCK),
            port=service_port,
            health=http_ok(service_url),
            start_timeout_s=30.0,
            urls=(("Service mock", f"http://localhost:{service_port}"),),
        ),
    ]


def stagegate_services(state: StateDir) -> list[Service]:
    """The worker, callback server and service mock (without Temporal), for a stack that brings its own."""
    return [service for service in _services(state) if service.name != "temporal"]


def _command(service: Service, temporal_bin: str) -> list[str]:
    """The process's argv, from the stack starter (the dev server's arguments are built in one place)."""
    if service.argv:
        return list(service.argv)
    if service.name == "temporal":
        ui_port = _port_from_env("TEMPORAL_UI_PORT", 8233)
        return dev_server_args(
            temporal_bin, service.port, db_file=service.state.temporal_db, ui_port=ui_port, log_level="warn"
        )
    # This interpreter (the project's environment: `just` runs devstack through `uv run`), not `uv run`.
    return python_command(service.marker[-1])


# --- process bookkeeping ------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of pid from /proc, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[2])


def _has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def _alive(pid: int) -> bool:
    """Whether pid exists and is not a zombie."""
    if _has_proc():
        stat = _proc_stat(pid)
        return stat is not None and stat[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is pgid."""
    if not _has_proc():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None and stat[1] == pgid and stat[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    width = len(needle)
    return any(list(haystack[i : i + width]) == list(needle) for i in range(len(haystack) - width + 1))


def _tag(pid: int) -> str | None:
    """The STAGEGATE_DEVSTACK value pid started with: "" if none, None if its environment cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = f"{TAG_VAR}=".encode()
    for entry in raw.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return ""


def _is_ours(service: Service, pid: int, *, untagged_ok: bool = True) -> bool:
    """Whether pid is alive and is really a process `up` started for service (from this state dir).

    Its command line must show the service, and its tag must be this state dir's; `untagged_ok` also accepts
    no tag at all, for the pid in the pid file and its process group (started by an older devstack).
    """
    if not _alive(pid):
        return False
    if not _has_proc():
        return True  # no /proc (e.g. macOS): trust the pid file
    cmdline = _cmdline(pid)
    if cmdline is None or not _contains(cmdline, service.marker):
        return False
    tag = _tag(pid)
    return tag == str(service.state.root) or (untagged_ok and tag == "")


def _leftovers(service: Service, recorded: int | None) -> list[int]:
    """Our processes for service other than a healthy recorded one: what a crash or a lost pid file leaves.

    Two sources, both safe: members of the recorded pid's process group (each service is started as the
    leader of its own group, and Linux does not reuse a pid while its group lives), and any process tagged
    with this state dir. Either must also show the service's command line.
    """
    if not _has_proc():
        return []
    found: set[int] = set()
    if recorded is not None:
        found.update(pid for pid in _group_members(recorded) if _is_ours(service, pid))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in found:
            pid = int(entry.name)
            if pid != os.getpid() and _is_ours(service, pid, untagged_ok=False):
                found.add(pid)
    return sorted(found)


def _stop_leftovers(service: Service, recorded: int | None) -> list[int]:
    """Stop the process group of every leftover of service; returns the groups stopped."""
    groups: list[int] = []
    for pid in _leftovers(service, recorded):
        stat = _proc_stat(pid)
        if stat is None:
            continue
        pgid = stat[1]
        if pgid not in groups:
            how = _stop_group(pgid)
            groups.append(pgid)
            print(f"{service.name}: stopped leftover process {pid} (group {pgid}, {how})")
    return groups


def _read_pid(service: Service) -> int | None:
    try:
        return int(service.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _running_pid(service: Service, *, clean_stale: bool) -> int | None:
    """Pid of our running process for service, or None (drops a stale pid file)."""
    if not service.pid_file.exists():
        return None
    pid = _read_pid(service)
    if pid is not None and _is_ours(service, pid):
        return pid
    if clean_stale:
        shown = pid if pid is not None else "unreadable"
        print(f"{service.name}: removing stale pid file (pid {shown} is not ours/alive)")
        service.pid_file.unlink(missing_ok=True)
    return None


def running_pid(service: Service) -> int | None:
    """Pid of our running process for service, or None (the pid file is left as it is)."""
    return _running_pid(service, clean_stale=False)


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with path.open(errors="replace") as handle:
            return list(collections.deque(handle, maxlen=lines))
    except OSError:
        return []


def _print_log_tail(service: Service, lines: int = LOG_TAIL_ON_FAILURE) -> None:
    print(f"--- last {lines} lines of {service.log_file} ---", file=sys.stderr)
    for line in _tail(service.log_file, lines):
        sys.stderr.write(line if line.endswith("\n") else line + "\n")
    print("--- end of log ---", file=sys.stderr)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pgid) and not _group_members(pgid):
            return True
        time.sleep(POLL_INTERVAL_S)
    return not _alive(pgid) and not _group_members(pgid)


def _stop_group(pgid: int) -> str:
    """SIGTERM the process group, SIGKILL it after STOP_TIMEOUT_S; says which."""
    _signal_group(pgid, signal.SIGTERM)
    if _wait_gone(pgid, STOP_TIMEOUT_S):
        return "SIGTERM"
    _signal_group(pgid, signal.SIGKILL)
    _wait_gone(pgid, 5.0)
    return "SIGKILL"


# --- commands ------------------------------------------------------------------------


def _temporal_binary() -> str:
    print("temporal: locating the Temporal CLI (scripts/setup_temporal.sh)")
    # S603/S607: a fixed command line (our own script run by bash from PATH).
    result = subprocess.run(  # noqa: S603
        ["bash", str(SETUP_TEMPORAL)],  # noqa: S607
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        sys.exit("devstack: scripts/setup_temporal.sh failed; cannot start Temporal")
    return lines[-1].strip()


def _child_env(state: StateDir, name: str) -> dict[str, str]:
    env = dict(os.environ)
    if name == "temporal":
        # OTEL_* configure our processes' tracing; the Temporal server reads them too and refuses to start on
        # values it does not support (OTEL_TRACES_EXPORTER=console).
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    env.setdefault("LOG_FORMAT", "json")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Pipeline files read the service's address as ${env.SERVICE_URL}: keep it on the port this stack uses.
    env.setdefault("SERVICE_URL", f"http://{LOCALHOST}:{_port_from_env('SERVICE_PORT', 8001)}")
    if _dev_mode(env):
        env["STAGEGATE_DEV_MODE"] = "1"
    env[TAG_VAR] = str(state.root)
    return env


def _dev_mode(env: dict[str, str]) -> bool:
    """No CALLBACK_SIGNING_SECRETS (and STAGEGATE_DEV_MODE not turned off): this loopback stack runs in dev mode."""
    return not env.get("CALLBACK_SIGNING_SECRETS", "").strip() and env.get("STAGEGATE_DEV_MODE", "1") != "0"


def _wait_healthy(service: Service, pid: int, proc: subprocess.Popen[bytes] | None) -> str | None:
    """Poll service health; returns None once healthy, else why it failed."""
    deadline = time.monotonic() + service.start_timeout_s
    while True:
        if proc is not None:
            code = proc.poll()
            if code is not None:
                return f"exited with code {code}"
        elif not _alive(pid):
            return "is no longer running"
        if service.health(1.0):
            return None
        if time.monotonic() >= deadline:
            return f"did not become healthy within {service.start_timeout_s:.0f}s"
        time.sleep(POLL_INTERVAL_S)


def _start(service: Service, temporal_bin: str) -> None:
    if _tcp_open(service.port, 0.5):
        sys.exit(
            f"devstack: {service.name}: port {service.port} is already in use by a "
            "process this stack did not start; stop it (or change the port) and retry"
        )
    argv = _command(service, temporal_bin)
    # Detached: the process outlives this command; `down` finds it again through its pid file (and its tag).
    proc = start_process(
        service.name,
        argv,
        env={**_child_env(service.state, service.name), **dict(service.extra_env)},
        log_dir=service.state.logs,
        python_module=False,
        append_log=True,
        pid_file=service.pid_file,
    ).popen
    print(f"{service.name}: started (pid {proc.pid}), waiting for it to become healthy...")
    failure = _wait_healthy(service, proc.pid, proc)
    if failure is None:
        print(f"{service.name}: healthy")
        return
    print(f"devstack: {service.name} {failure}", file=sys.stderr)
    if proc.poll() is None:
        _stop_group(proc.pid)
    service.pid_file.unlink(missing_ok=True)
    _print_log_tail(service)
    print("devstack: run `just down` to stop whatever did start", file=sys.stderr)
    sys.exit(1)


def cmd_up(
    services: list[Service], *, title: str | None = "stagegate dev stack is up", logs_hint: str = "just logs [name]"
) -> int:
    """Start whatever is not running yet, in order, and wait for health; then print `title` and the URLs."""
    state = services[0].state
    state.pids.mkdir(parents=True, exist_ok=True)
    state.logs.mkdir(parents=True, exist_ok=True)
    temporal_bin = ""
    if _dev_mode(dict(os.environ)):
        print(
            "devstack: CALLBACK_SIGNING_SECRETS is not set: development mode (STAGEGATE_DEV_MODE=1), callback URLs "
            "signed with the development secret from the source; every process listens on loopback only"
        )
    for service in services:
        recorded = _read_pid(service)
        pid = _running_pid(service, clean_stale=True)
        if pid is None:
            # A crash or a lost pid file can leave our process holding the port: stop it, start afresh.
            _stop_leftovers(service, recorded)
        if pid is not None:
            print(f"{service.name}: already running (pid {pid})")
            failure = _wait_healthy(service, pid, None)
            if failure is not None:
                print(f"devstack: {service.name} (pid {pid}) {failure}", file=sys.stderr)
                _print_log_tail(service)
                return 1
            continue
        if service.name == "temporal" and not service.argv and not temporal_bin:
            temporal_bin = _temporal_binary()
        _start(service, temporal_bin)

    if title is None:
        return 0
    print()
    print(f"{title}:")
    rows = [row for service in services for row in service.urls]
    width = max(len(label) for label, _ in rows)
    for label, url in rows:
        print(f"  {label:<{width}}  {url}")
    logs = f"{state.show(state.logs)}/<name>.log  ({logs_hint})"
    print(f"  {'Logs':<{width}}  {logs}")
    return 0


def cmd_down(services: list[Service]) -> int:
    """Stop, in reverse order, exactly the processes `up` started."""
    stopped: list[int] = []
    for service in reversed(services):
        recorded = _read_pid(service)
        pid = _running_pid(service, clean_stale=True)
        if pid is not None:
            how = _stop_group(pid)
            stopped.append(pid)
            print(f"{service.name}: stopped (pid {pid}, {how})")
        service.pid_file.unlink(missing_ok=True)
        # Whatever a crash or a lost pid file left behind (only processes this stack started).
        stopped.extend(group for group in _stop_leftovers(service, recorded) if group not in stopped)
    if not stopped:
        print("nothing to stop")
        return 0
    alive = [pid for pid in stopped if _alive(pid) or _group_members(pid)]
    alive += [pid for service in services for pid in _leftovers(service, None)]
    if alive:
        print(f"devstack: processes still alive after down: {sorted(set(alive))}", file=sys.stderr)
        return 1
    print(f"verified: none of process groups {', '.join(map(str, stopped))} remain")
    return 0


def cmd_ps(services: list[Service]) -> int:
    """Print name, pid, alive/dead and health of each process."""
    print(f"{'NAME':<16} {'PID':>8}  {'STATE':<6} HEALTH")
    for service in services:
        raw_pid = _read_pid(service) if service.pid_file.exists() else None
        if raw_pid is None:
            orphans = _leftovers(service, None)
            if orphans:
                print(f"{service.name:<16} {orphans[0]:>8}  {'alive':<6} no pid file (`down` stops it)")
            else:
                print(f"{service.name:<16} {'-':>8}  {'-':<6} not started")
            continue
        alive = _is_ours(service, raw_pid)
        state = "alive" if alive else "dead"
        health = ("healthy" if service.health(1.0) else "unhealthy") if alive else "-"
        print(f"{service.name:<16} {raw_pid:>8}  {state:<6} {health}")
    return 0


def cmd_logs(services: list[Service], name: str | None) -> int:
    """Print the tail of one log file, or of all of them."""
    names = [service.name for service in services]
    if name is not None and name not in names:
        print(
            f"devstack: unknown process {name!r}; choose one of: {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    selected = [service for service in services if name is None or service.name == name]
    for service in selected:
        print(f"==> {service.state.show(service.log_file)} <==")
        if not service.log_file.exists():
            print("(no log yet)")
        for line in _tail(service.log_file, LOG_TAIL_DEFAULT):
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
        if len(selected) > 1:
            print()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="pid files, logs and the dev server's database (default: .state in the project)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start temporal, worker, callback server and service mock")
    sub.add_parser("down", help="stop everything `up` started")
    sub.add_parser("ps", help="show each process, its pid, and its health")
    logs = sub.add_parser("logs", help="print the last 50 lines of one or all logs")
    logs.add_argument("name", nargs="?", help="temporal, worker, callback_server or service_mock")
    args = parser.parse_args(argv)

    services = _services(StateDir(args.state_dir.resolve()))
    if args.command == "up":
        return cmd_up(services)
    if args.command == "down":
        return cmd_down(services)
    if args.command == "ps":
        return cmd_ps(services)
    name: str | None = args.name
    return cmd_logs(services, name)


if __name__ == "__main__":
    sys.exit(main())
