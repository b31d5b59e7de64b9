"""The `cli` command line (entry point `cli.main:main`).

The cyclic garbage collector is off while a `cli` process imports: typer, then the Temporal SDK and the modules
of the command that runs create hundreds of thousands of long-lived objects and next to no garbage, and the
collector's passes over them were ~3 % of the instructions of a `cli start --no-wait`. `cli.session.run`
switches it back on (after `gc.freeze()`, so its passes skip everything imported) before a command talks to
Temporal, which with `--wait` may last hours.
"""

import gc

gc.disable()
