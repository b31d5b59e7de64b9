"""Opt-in browser check: the Temporal Web UI shows a waiting run's stage, service and deadline, no query needed.

    uv run python scripts/ui_check.py [--screenshot docs/operators-ui.png]     (the stack must be up: `just up`)

Starts a pipeline run whose service never calls back (`pipelines/demo.yaml`, action ignore), waits until the
gate waits for the callback, then drives headless Chromium (Debian's `chromium` package) over the Chrome
DevTools protocol: opens the run's page in the local dev server's Web UI, waits (bounded) until the page's
text holds the stage title, the service and the deadline from the run's current details, saves a screenshot
and checks no secret shows. Chromium and the run are stopped again, by pid and by workflow ID.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import websockets
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from app.gate.types import Mode
from app.pipeline.file import load_pipeline
from app.pipeline.types import PipelineRunInput
from app.runtime.client import connect_client
from app.runtime.config import load_settings
from app.starter import start_pipeline_run
from scripts.stack.processes import ROOT, free_port

PIPELINE = ROOT / "pipelines" / "demo.yaml"
DEFAULT_SCREENSHOT = ROOT / "docs" / "operators-ui.png"
WAIT_SECONDS = 60.0
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1400,1100",
)


class UiCheckError(RuntimeError):
    """What the check could not find or do (one line)."""


def _ui_port() -> int:
    return int(os.environ.get("TEMPORAL_UI_PORT", "8233"))


async def _current_details(client: Client, workflow_id: str) -> str:
    meta: WorkflowMetadata = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return meta.current_details


async def _wait_waiting(client: Client, workflow_id: str) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        details = await _current_details(client, workflow_id)
        if "waiting for: the callback" in details:
            return details
        await asyncio.sleep(0.3)
    raise UiCheckError(f"{workflow_id} never waited for its callback (is the stack up? `just up`)")


def _fact(details: str, prefix: str) -> str:
    for line in details.splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    raise UiCheckError(f"current details lack {prefix!r}: {details!r}")


def _start_chromium(profile: str, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise UiCheckError("chromium is not installed: apt-get install -y chromium (or `just ui-check`)")
    return subprocess.Popen(  # noqa: S603  # our own flags; the binary found on PATH
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its helpers share the group: one killpg stops them all
    )


def _page_socket(port: int) -> str:
    """The DevTools WebSocket of Chromium's first page (bounded wait for Chromium to listen)."""
    deadline = time.monotonic() + 30
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.2)
    raise UiCheckError("chromium's DevTools endpoint never answered")


_OPEN_METADATA_TAB = """
for (const el of document.querySelectorAll('a, button, [role="tab"]')) {
  if (el.textContent.trim() === 'User Metadata' && el.getAttribute('aria-selected') !== 'true') { el.click(); break; }
}
"""


_PAGE_TEXT = """
[document.body.innerText].concat(Array.from(document.querySelectorAll('iframe')).map(f => {
  try { if (f.contentDocument && f.contentDocument.body) return f.contentDocument.body.innerText; } catch (e) {}
  const holder = document.createElement('div'); holder.innerHTML = f.srcdoc || ''; return holder.textContent;
})).join('\\n')
"""


class Page:
    """A minimal DevTools client: one command at a time, events skipped."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._next = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        await self._socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self._socket.recv(), 30))
            if message.get("id") == self._next:
                if "error" in message:
                    raise UiCheckError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def text(self) -> str:
        """The page's text, with what its frames show (the UI renders markdown in sandboxed iframes)."""
        answer = await self.call("Runtime.evaluate", expression=_PAGE_TEXT, returnByValue=True)
        return " ".join(str(answer.get("result", {}).get("value", "")).split())


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _look(url: str, port: int, wanted: list[str], screenshot: Path) -> str:
    async with websockets.connect(_page_socket(port), max_size=64 * 1024 * 1024) as socket:
        page = Page(socket)
        await page.call("Page.enable")
        await page.call("Page.navigate", url=url)
        deadline = time.monotonic() + WAIT_SECONDS
        text = ""
        while time.monotonic() < deadline:
            # The run's page opens on its timeline (activity and timer summaries); the static summary and
            # details and the current details are on its "User Metadata" tab.
            await page.call("Runtime.evaluate", expression=_OPEN_METADATA_TAB)
            text = await page.text()
            if all(w in text for w in wanted):
                break
            await asyncio.sleep(0.5)
        else:
            missing = [w for w in wanted if w not in text]
            shot = await page.call("Page.captureScreenshot", format="png")
            failed = screenshot.with_suffix(".failed.png")
            _write(failed, base64.b64decode(shot["data"]))
            raise UiCheckError(f"the Web UI page never showed {missing} (its look: {failed})")
        shot = await page.call("Page.captureScreenshot", format="png")
        _write(screenshot, base64.b64decode(shot["data"]))
        return text


async def check(screenshot: Path) -> None:
    settings = load_settings()
    client = await connect_client(settings)
    pipeline = load_pipeline(PIPELINE)
    inp = PipelineRunInput(
        pipeline=pipeline,
        input={"time_to_request": 0.1, "time_to_callback": 1.0, "action": "ignore"},
        mode=Mode.SIGNAL,
    )
    workflow_id = f"ui-check-{uuid.uuid4().hex[:8]}"
    handle = await start_pipeline_run(client, settings.task_queue, inp, workflow_id=workflow_id)
    profile = tempfile.mkdtemp(prefix="ui-check-chromium-")
    port = free_port()
    browser: subprocess.Popen[bytes] | None = None
    try:
        details = await _wait_waiting(client, workflow_id)
        # What the page must show: the stage title, the service (method and host) and the deadline.
        # As rendered: markdown's code spans lose their backticks; whitespace is compared collapsed.
        title = details.splitlines()[0].split("**")[1].replace("`", "")
        wanted = [" ".join(title.split()), _fact(details, "- service:"), _fact(details, "- deadline:")]
        browser = _start_chromium(profile, port)
        url = f"http://localhost:{_ui_port()}/namespaces/{settings.temporal.namespace}/workflows/{workflow_id}"
        text = await _look(url, port, wanted, screenshot)
        for secret in settings.signing_secrets:
            if secret in text:
                raise UiCheckError("the signing secret shows on the page")
        if "sig=" in text:
            raise UiCheckError("a signed callback URL shows on the page")
        print(f"ui-check: {url} shows {wanted}; screenshot {screenshot}")
    finally:
        if browser is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                browser.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
        with contextlib.suppress(Exception):
            await handle.terminate("ui check done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, default=DEFAULT_SCREENSHOT)
    args = parser.parse_args()
    try:
        asyncio.run(check(args.screenshot))
    except UiCheckError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
