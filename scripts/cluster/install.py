"""Locate, or install once, what the cluster runs: PostgreSQL (Debian packages) and the pinned Temporal server.

- PostgreSQL: the newest /usr/lib/postgresql/<major>/bin, else `initdb` on PATH; when there is neither, `apt-get
  install postgresql` (as root; otherwise the command to run is printed). Only the binaries are used: the
  cluster runs its own server on its own data directory and port, never the system's cluster.
- Temporal: `go install` of go.temporal.io/server's `cmd/server` and `cmd/tools/sql` (temporal-sql-tool) at the
  version pinned in settings.py, into .tools/cluster/server-<version>/ (git-ignored), once; the release's
  PostgreSQL schema files are copied beside them from the Go module cache, so later starts need no Go.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scripts.cluster.settings import TEMPORAL_SERVER_MODULE, TEMPORAL_SERVER_VERSION, ClusterSettings

PG_LIB = Path("/usr/lib/postgresql")
# Schema files of the release, under the module: schema/postgresql/v12/{temporal,visibility}/versioned.
SCHEMA_SUBDIR = Path("schema") / "postgresql" / "v12"


class InstallError(RuntimeError):
    """Something the cluster needs is missing and could not be installed here."""


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of everything the cluster starts or runs."""

    pg_bin: Path  # initdb, postgres, pg_isready
    temporal_server: Path
    sql_tool: Path
    schema_dir: Path  # .../schema/postgresql/v12

    def pg(self, name: str) -> str:
        """One PostgreSQL program."""
        return str(self.pg_bin / name)


def log(message: str) -> None:
    """Progress on stderr, one line, prefixed like the rest of `cluster-up`."""
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def find_pg_bin() -> Path | None:
    majors = sorted(
        (p for p in PG_LIB.glob("*/bin") if (p / "initdb").is_file() and p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    if majors:
        return majors[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def ensure_postgres() -> Path:
    """The bin directory of the newest installed PostgreSQL, installing the Debian package when there is none."""
    found = find_pg_bin()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise InstallError(
            "PostgreSQL is not installed: run `sudo apt-get update && sudo apt-get install -y postgresql` "
            "(Debian/Ubuntu), or put a PostgreSQL 12+ bin directory (initdb, postgres) on PATH"
        )
    log("PostgreSQL is not installed: apt-get install -y postgresql (once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        subprocess.run(argv, check=True, env=env, stdin=subprocess.DEVNULL)  # noqa: S603  # fixed commands
    found = find_pg_bin()
    if found is None:
        raise InstallError("apt-get installed postgresql, but no initdb was found under /usr/lib/postgresql")
    return found


def _go_install(tools: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise InstallError("the Temporal server is built from its Go module: install Go 1.24+ (https://go.dev/dl/)")
    targets = [f"{TEMPORAL_SERVER_MODULE}/cmd/{cmd}@v{TEMPORAL_SERVER_VERSION}" for cmd in ("server", "tools/sql")]
    log(f"building Temporal server {TEMPORAL_SERVER_VERSION} and temporal-sql-tool with go install into {tools}")
    log("the first build compiles the whole server: several minutes on 2 cores; later starts reuse it")
    began = time.monotonic()
    env = {**os.environ, "GOBIN": str(tools), "CGO_ENABLED": "0"}
    subprocess.run([go, "install", *targets], check=True, env=env, stdin=subprocess.DEVNULL)  # noqa: S603
    log(f"built in {time.monotonic() - began:.0f} s")


def _copy_schema(tools: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise InstallError("the schema files come from the Go module cache: install Go 1.24+")
    # `go mod download -json` prints the module's directory in the cache (downloading it again if it was cleaned).
    result = subprocess.run(  # noqa: S603  # fixed command
        [go, "mod", "download", "-json", f"{TEMPORAL_SERVER_MODULE}@v{TEMPORAL_SERVER_VERSION}"],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=tools,
    )
    source = Path(json.loads(result.stdout)["Dir"]) / SCHEMA_SUBDIR
    if not source.is_dir():
        raise InstallError(f"no PostgreSQL schema files in {source}")
    target = tools / SCHEMA_SUBDIR
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:  # the module cache is read-only; the copy need not be
        path.chmod(0o755 if path.is_dir() else 0o644)


def ensure_temporal(settings: ClusterSettings) -> tuple[Path, Path, Path]:
    """(server, sql tool, schema dir) of the pinned release, built on first use; concurrent runs wait for one build."""
    tools = settings.tools_dir
    server, sql_tool, schema = tools / "server", tools / "sql", tools / SCHEMA_SUBDIR
    tools.mkdir(parents=True, exist_ok=True)
    with (tools.parent / f"build-{TEMPORAL_SERVER_VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (server.is_file() and sql_tool.is_file()):
            _go_install(tools)
        if not (schema / "temporal" / "versioned").is_dir():
            _copy_schema(tools)
    return server, sql_tool, schema


def ensure_binaries(settings: ClusterSettings) -> Binaries:
    """Everything `cluster-up` needs, installed when missing."""
    pg_bin = ensure_postgres()
    server, sql_tool, schema = ensure_temporal(settings)
    return Binaries(pg_bin=pg_bin, temporal_server=server, sql_tool=sql_tool, schema_dir=schema)


def installed_binaries(settings: ClusterSettings) -> Binaries:
    """The same paths without installing anything: down, ps and logs only recognise the command lines."""
    tools = settings.tools_dir
    return Binaries(
        pg_bin=find_pg_bin() or PG_LIB,
        temporal_server=tools / "server",
        sql_tool=tools / "sql",
        schema_dir=tools / SCHEMA_SUBDIR,
    )
