"""Headless Chromium for the HTML report's tests and bench: Debian's `chromium` driven by
playwright, never a browser playwright would download (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1)."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install '.[test]')"
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)"
    return None


def _usable_child_watcher() -> None:
    """pyshark (crosscheck tests, same process) leaves asyncio a child watcher bound to its own
    closed loop; playwright starts its driver through asyncio and would fail on it. Python 3.11
    only: later versions do without child watchers."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        get = getattr(asyncio, "get_child_watcher", None)
        if get is not None and sys.platform != "win32" and not get().is_active():
            asyncio.set_child_watcher(asyncio.ThreadedChildWatcher())


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A browser context with a fresh, throwaway user-data directory."""
    from playwright.sync_api import sync_playwright

    _usable_child_watcher()

    profile = tempfile.mkdtemp(prefix="tls-report-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                           args=ARGS, viewport=VIEWPORT)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
