"""The one stack starter: every script and test that needs real processes starts them from here.

- `processes`: start a subprocess in its own process group (log file, optional pid file), wait for its health,
  stop it by pid; free ports; the loopback environment; where the Temporal CLI is.
- `dev_server`: the Temporal dev server and the one builder of its `temporal server start-dev` arguments.
- `services`: service mock, callback server(s), worker(s) on given ports as one restartable `Stack`.
- `runs`: wait for a staged run's end or status, always with a timeout.

Users: `scripts/devstack.py` (`just up`), `scripts/bench/`, `scripts/reliability/`, `scripts/scale_out/`, and the
tests through `tests/stack.py`.
"""
