"""What reading a service's own body costs the callback server, in process: microseconds per callback.

    uv run python -m scripts.bench.shape_cost [--n 20000]

The two steps that differ between a foreign-body callback and stagegate's own: verifying the signed URL (with
the `shp` parameter the shape adds, decoded) and turning the body into the callback (the shape's reading of the
Replicate-style prediction object vs msgspec's decode of the own body carrying the same event). Everything else
(HTTP, Temporal) is the same for both. Complements `just bench-shape`, whose end-to-end ratios are noisy on a
shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import msgspec

from app.callbacks.shapes import decode_foreign_body
from app.callbacks.wire import CallbackBody
from app.gate.callback_urls import CallbackSigner, CallbackTarget, verify_callback_params
from app.gate.types import Mode
from scripts.bench.shapes import REPLICATE

SECRET = "bench-" + "s" * 40


def costs(n: int) -> dict[str, float]:
    """Microseconds per call of each step, for both bodies."""
    target = CallbackTarget(Mode.SIGNAL, "bench-p1-signal-shape-saturation-0-1-abcdef", 2, 1, int(time.time()) + 600)
    signer = CallbackSigner("http://127.0.0.1:9", SECRET)
    own_query = parse_qsl(urlsplit(signer.url_for(target)).query)
    shaped = CallbackTarget(**{**target.__dict__, "shape": REPLICATE.shape})
    shape_query = parse_qsl(urlsplit(signer.url_for(shaped)).query)
    event = "bench-p1-signal-shape-saturation-0-1-abcdef-2"
    own_raw = json.dumps(REPLICATE.own_body(event)).encode()
    foreign_raw = json.dumps(REPLICATE.body(event)).encode()
    headers = [(k.encode(), v.encode()) for k, v in REPLICATE.headers(event).items()]
    headers += [(b"content-type", b"application/json"), (b"host", b"127.0.0.1"), (b"user-agent", b"python-httpx")]

    def per_call(fn: Callable[[], object]) -> float:
        return 1e6 * timeit.timeit(fn, number=n) / n

    return {
        "verify URL, own": per_call(lambda: verify_callback_params(Mode.SIGNAL, own_query, [SECRET], now=time.time())),
        "verify URL, with shape": per_call(
            lambda: verify_callback_params(Mode.SIGNAL, shape_query, [SECRET], now=time.time())
        ),
        "read body, own": per_call(lambda: msgspec.json.decode(own_raw, type=CallbackBody)),
        "read body, foreign": per_call(
            lambda: decode_foreign_body(foreign_raw, REPLICATE.shape, headers, max_result_bytes=65536)
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shape_cost", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="calls per step")
    args = parser.parse_args(argv)
    found = costs(args.n)
    for name, micros in found.items():
        print(f"{name:24} {micros:7.1f} us")
    extra = found["verify URL, with shape"] + found["read body, foreign"]
    extra -= found["verify URL, own"] + found["read body, own"]
    print(f"{'foreign path, extra':24} {extra:7.1f} us per callback")
    return 0


if __name__ == "__main__":
    sys.exit(main())
