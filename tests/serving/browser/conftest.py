"""A real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; Playwright never downloads a
browser) against the real app served by uvicorn on a free local port, in a background thread.

Without /usr/bin/chromium the browser tests are skipped, unless TRIAGE_REQUIRE_BROWSER=1 (then they fail).
Screenshots go to $TRIAGE_TEST_ARTIFACTS (default: test-artifacts/ at the repository root).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# The machine has no internet: without these flags Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Read at import, before the session fixture of tests/conftest.py removes TRIAGE_* variables.
REQUIRE_BROWSER = os.environ.get("TRIAGE_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("TRIAGE_TEST_ARTIFACTS") or Path(__file__).resolve().parents[3] / "test-artifacts")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if REQUIRE_BROWSER:
            pytest.fail(f"TRIAGE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if REQUIRE_BROWSER:
            pytest.fail("TRIAGE_REQUIRE_BROWSER=1 but the python package playwright is not installed")
        pytest.skip("the python package playwright is not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def live_server(service_settings, api_keys, trained_model) -> Iterator[str]:
    """The whole app served by uvicorn on 127.0.0.1 (a socket bound here, so no port race); its base URL."""
    with serve(service_settings, trained_model) as url:
        yield url


@pytest.fixture
def server_of(api_keys, trained_model):
    """Serves the app with settings of the test's choosing: `with server_of(settings) as base_url: ...`."""
    return lambda settings: serve(settings, trained_model)


@contextmanager
def serve(settings, trained_model) -> Iterator[str]:
    """The app of these settings, serving the session model, on a free local port while the block runs."""
    import uvicorn

    from serving.app import create_app
    from serving.model_source import LoadedModel

    app = create_app(settings, model=LoadedModel(trained_model, "test session model"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # the lifespan loads the model and builds the similarity window
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    """A fresh page (its own cookies) that records console errors and failed requests, which the test checks:
    a Content-Security-Policy violation or a missing stylesheet shows up there."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    problems: list[str] = []
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    opened.problems = problems  # type: ignore[attr-defined]
    try:
        yield opened
    finally:
        context.close()
