"""`just cluster-up` / `cluster-down` / `cluster-ps` / `cluster-logs`: Temporal on PostgreSQL, then the stagegate stack.

Up, in order: install what is missing (scripts/cluster/install.py); initdb on first use (data under the cluster's
state dir, owned by the `postgres` user when we run as root: PostgreSQL refuses to run as root); start PostgreSQL on
its own port and socket directory; create both databases and bring their schemas to this release with
temporal-sql-tool; write the server config; start history, matching, frontend and worker (one process each, or
one process for all with CLUSTER_LAYOUT=single); create the namespace and register the search attributes with the
compose stack's own job (deploy/temporal-setup.sh); then the worker, callback server and service mock, as `just up`
starts them. Every process is a devstack Service: pid file, log, health check, tagged with the state dir, and
stopped by `down` by pid (process group), in reverse order, verified.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from scripts import devstack
from scripts.cluster.install import Binaries, InstallError, ensure_binaries, installed_binaries, log
from scripts.cluster.server_config import MAIN_DB, VISIBILITY_DB, render_server_config
from scripts.cluster.settings import (
    ROOT,
    SERVICES,
    ClusterSettings,
    ClusterSettingsError,
    Layout,
    load_cluster_settings,
)
from scripts.devstack import Service, StateDir
from scripts.stack.processes import find_temporal_cli

PG_SYSTEM_USER = "postgres"  # the Debian package's user; the server runs as it when we are root
SETUP_JOB = ROOT / "deploy" / "temporal-setup.sh"
TEMPORAL_START_TIMEOUT_S = 120.0
# PostgreSQL settings passed on its command line at every start (so ports never go stale in postgresql.conf).
PG_MAX_CONNECTIONS = 200  # 4 Temporal processes x (20 + 10) pooled connections, plus tools and psql
PG_SHARED_BUFFERS = "256MB"


def _as_pg_user() -> list[str]:
    """Prefix that runs a command as the postgres user when we are root (setpriv execs: the pid stays the same)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={PG_SYSTEM_USER}", f"--regid={PG_SYSTEM_USER}", "--init-groups", "--"]


def _own_for_pg(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(argv: Sequence[str], *, env: dict[str, str] | None = None, what: str) -> None:
    result = subprocess.run(  # noqa: S603  # our fixed commands
        list(argv), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InstallError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def init_postgres(settings: ClusterSettings, binaries: Binaries) -> None:
    """initdb once: the temporal user as superuser, password auth (scram) on every connection."""
    if (settings.pg_data / "PG_VERSION").exists():
        return
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError as exc:
            message = f"as root, PostgreSQL runs as {PG_SYSTEM_USER!r}: no such user (the package makes it)"
            raise InstallError(message) from exc
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    _own_for_pg(settings.pg_data, 0o700)
    # Beside the data directory, not in it (initdb wants it empty); readable by the server's user only.
    password_file = settings.state_dir / ".initdb-password"
    password_file.write_text(settings.pg_password + "\n")
    password_file.chmod(0o600)
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(password_file, user.pw_uid, user.pw_gid)
    log(f"initdb {settings.pg_data} (PostgreSQL from {binaries.pg_bin})")
    try:
        _run(
            [
                *_as_pg_user(),
                binaries.pg("initdb"),
                "--pgdata",
                str(settings.pg_data),
                "--username",
                settings.pg_user,
                "--pwfile",
                str(password_file),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
            ],
            what="initdb",
        )
    finally:
        password_file.unlink(missing_ok=True)


def _pg_ready(settings: ClusterSettings, binaries: Binaries) -> Callable[[float], bool]:
    def ready(timeout: float) -> bool:
        argv = [binaries.pg("pg_isready"), "--quiet", "--host=127.0.0.1", f"--port={settings.pg_port}"]
        try:
            return subprocess.run(argv, timeout=timeout + 2, check=False).returncode == 0  # noqa: S603
        except subprocess.TimeoutExpired:
            return False

    return ready


def _tcp_open(port: int) -> Callable[[float], bool]:
    def probe(timeout: float) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                return True
        except OSError:
            return False

    return probe


def postgres_service(settings: ClusterSettings, binaries: Binaries, state: StateDir) -> Service:
    """PostgreSQL on 127.0.0.1:<CLUSTER_PG_PORT>, its socket in the state dir, as the postgres user when root."""
    data = str(settings.pg_data)
    return Service(
        state=state,
        name="postgres",
        marker=("-D", data),
        port=settings.pg_port,
        health=_pg_ready(settings, binaries),
        start_timeout_s=60.0,
        urls=(("PostgreSQL", f"127.0.0.1:{settings.pg_port} (user {settings.pg_user})"),),
        argv=(
            *_as_pg_user(),
            binaries.pg("postgres"),
            "-D",
            data,
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            str(settings.pg_port),
            "-c",
            f"unix_socket_directories={settings.pg_socket_dir}",
            "-c",
            f"max_connections={PG_MAX_CONNECTIONS}",
            "-c",
            f"shared_buffers={PG_SHARED_BUFFERS}",
        ),
    )


def temporal_services(settings: ClusterSettings, binaries: Binaries, state: StateDir) -> list[Service]:
    """One Service per Temporal service (CLUSTER_LAYOUT=separate), or one for all four (single)."""
    base = (str(binaries.temporal_server), "--config-file", str(settings.server_config), "--allow-no-auth", "start")
    groups = [[name] for name in SERVICES] if settings.layout is Layout.SEPARATE else [list(SERVICES)]
    services = []
    for group in groups:
        flags = tuple(token for name in group for token in ("--service", name))
        name = f"temporal_{group[0]}" if len(group) == 1 else "temporal_server"
        # The last service of the group answers last (the frontend waits for history and matching).
        probe = "frontend" if "frontend" in group else group[-1]
        port = settings.ports(probe).grpc
        urls = (("Temporal gRPC", settings.address),) if "frontend" in group else ()
        services.append(
            Service(
                state=state,
                name=name,
                marker=("start", *flags),
                port=port,
                health=_tcp_open(port),
                start_timeout_s=TEMPORAL_START_TIMEOUT_S,
                urls=urls,
                argv=(*base, *flags),
            )
        )
    return services


def setup_schema(settings: ClusterSettings, binaries: Binaries) -> None:
    """Both databases created if missing and brought to this release's schema (idempotent, like compose's job)."""
    env = {**os.environ, "SQL_PASSWORD": settings.pg_password}  # the tool reads it here: not in the process list
    base = [
        str(binaries.sql_tool),
        "--plugin",
        "postgres12",
        "--ep",
        "127.0.0.1",
        "-p",
        str(settings.pg_port),
        "-u",
        settings.pg_user,
    ]
    for database, folder in ((MAIN_DB, "temporal"), (VISIBILITY_DB, "visibility")):
        versioned = binaries.schema_dir / folder / "versioned"
        log(f"database {database}: create if missing, update the schema from {versioned}")
        _run([*base, "--db", database, "create"], env=env, what=f"create database {database}")
        _run([*base, "--db", database, "setup-schema", "-v", "0.0"], env=env, what=f"setup-schema {database}")
        _run([*base, "--db", database, "update-schema", "-d", str(versioned)], env=env, what=f"update {database}")


def write_server_config(settings: ClusterSettings) -> None:
    """The server's YAML (it holds the database password: readable by us only)."""
    settings.server_config.write_text(render_server_config(settings))
    settings.server_config.chmod(0o600)


def register_namespace(settings: ClusterSettings) -> None:
    """The compose stack's setup job, run here: namespace `default` and the project's search attributes."""
    cli = Path(find_temporal_cli())
    env = {
        **os.environ,
        "PATH": f"{cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": settings.address,
        "TEMPORAL_NAMESPACE": settings.namespace,
        "SETUP_WAIT_SECONDS": "120",
    }
    log(f"namespace and search attributes ({SETUP_JOB.relative_to(ROOT)})")
    result = subprocess.run(["sh", str(SETUP_JOB)], env=env, stdin=subprocess.DEVNULL, check=False)  # noqa: S603, S607
    if result.returncode != 0:
        raise InstallError(f"{SETUP_JOB.name} failed ({result.returncode})")


def all_services(settings: ClusterSettings, binaries: Binaries, state: StateDir) -> list[Service]:
    """Every process of the cluster stack, in start order."""
    return [
        postgres_service(settings, binaries, state),
        *temporal_services(settings, binaries, state),
        *devstack.stagegate_services(state),
    ]


def cmd_up(settings: ClusterSettings, binaries: Binaries, state: StateDir) -> int:
    """Bring up PostgreSQL, the schema, Temporal, the namespace, then the stagegate processes."""
    state.root.mkdir(parents=True, exist_ok=True)
    init_postgres(settings, binaries)
    _own_for_pg(settings.pg_socket_dir, 0o700)
    if devstack.cmd_up([postgres_service(settings, binaries, state)], title=None):
        return 1
    setup_schema(settings, binaries)
    write_server_config(settings)
    if devstack.cmd_up(temporal_services(settings, binaries, state), title=None):
        return 1
    register_namespace(settings)
    return devstack.cmd_up(
        all_services(settings, binaries, state),
        title=f"stagegate on Temporal {settings.layout.value} services + PostgreSQL ({settings.shards} shards) is up",
        logs_hint="just cluster-logs [name]",
    )


def cmd_wipe(settings: ClusterSettings, services: list[Service]) -> int:
    """Delete the database and the server config, only while nothing of the cluster runs."""
    running = [s.name for s in services if devstack.running_pid(s) is not None]
    if running:
        print(f"cluster: still running: {', '.join(running)}; run `just cluster-down` first", file=sys.stderr)
        return 1
    shutil.rmtree(settings.pg_data, ignore_errors=True)
    settings.server_config.unlink(missing_ok=True)
    print(f"cluster: removed {settings.pg_data} and {settings.server_config}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="cluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing, start PostgreSQL, Temporal and the stagegate processes")
    sub.add_parser("down", help="stop everything `up` started (by pid), verified")
    sub.add_parser("ps", help="each process: pid, alive/dead, health")
    logs = sub.add_parser("logs", help="the last 50 lines of one or all logs")
    logs.add_argument("name", nargs="?")
    sub.add_parser("wipe", help="delete the database (the cluster must be down)")
    args = parser.parse_args(argv)
    try:
        settings = load_cluster_settings()
        state = StateDir(settings.state_dir)
        binaries = ensure_binaries(settings) if args.command == "up" else installed_binaries(settings)
        services = all_services(settings, binaries, state)
        if args.command == "up":
            return cmd_up(settings, binaries, state)
        if args.command == "down":
            return devstack.cmd_down(services)
        if args.command == "ps":
            return devstack.cmd_ps(services)
        if args.command == "wipe":
            return cmd_wipe(settings, services)
        name: str | None = args.name
        return devstack.cmd_logs(services, name)
    except (ClusterSettingsError, InstallError, subprocess.CalledProcessError) as exc:
        print(f"cluster: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
