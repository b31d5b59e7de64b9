"""How both history recorders end: errors printed as one exit code, then an exit that skips interpreter teardown."""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def run_recorder(main: Callable[[], int]) -> NoReturn:
    """Run a recorder's `main` and exit with its code (130 when interrupted, 1 on an error, printed).

    The exit skips interpreter teardown: with the SDK's Rust runtime threads still around it sometimes aborts
    with "PyGILState_Release: thread state ... must be current" (temporalio/sdk-python#300), turning a good
    recording into exit code 134. Everything the recorder started is stopped before this point.
    """
    try:
        exit_code = main()
    except SystemExit:  # argparse: before any Temporal runtime exists
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; everything started was stopped", file=sys.stderr)
        exit_code = 130
    except BaseException:  # noqa: BLE001  # printed, then a failing exit code
        traceback.print_exc()
        exit_code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
