#!/usr/bin/env bash
# Provision the Temporal CLI (which embeds the dev server) and print the
# absolute path of the binary as the LAST line of stdout. Everything else goes
# to stderr, so callers can do:
#
#     TEMPORAL_BIN=$(scripts/setup_temporal.sh | tail -1)
#
# Lookup order:
#   1. $TEMPORAL_CLI, if set (must be an executable file or a command on PATH)
#   2. `temporal` on PATH
#   3. the project-local, git-ignored .tools/bin/temporal
#   4. build it from source with `go install` into .tools/bin (needs Go 1.24+)
set -euo pipefail

# Pinned on purpose: from v1.6.0 on, the CLI's go.mod carries a `replace`
# directive, and `go install module@version` refuses modules whose go.mod
# contains replace directives. v1.5.1 is the newest release installable that way.
TEMPORAL_CLI_VERSION="1.5.1"
TEMPORAL_CLI_MODULE="github.com/temporalio/cli"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_BIN="$ROOT/.tools/bin"
LOCAL_BIN="$TOOLS_BIN/temporal"

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

# 2. Already on PATH.
if on_path="$(command -v temporal 2>/dev/null)" && [[ -n "$on_path" ]]; then
    found "$on_path" "temporal on PATH"
fi

# 3. Project-local binary from an earlier build.
if [[ -x "$LOCAL_BIN" ]]; then
    found "$LOCAL_BIN" "project-local binary"
fi

# 4. Build it.
if ! command -v go >/dev/null 2>&1; then
    die "no Temporal CLI found and Go is not installed. Either install Go 1.24+ (https://go.dev/dl/) so this script can build it, or put a 'temporal' binary on PATH / set TEMPORAL_CLI=/path/to/temporal"
fi

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
