"""Browser tests of the web page: Debian's chromium driven by Playwright (nothing downloaded) against
the real app, served by uvicorn on a free loopback port with the MiniLM embedder.

The browser starts once per session; each test gets a fresh context (storage, clipboard) and its
own server over a fresh index folder. Screenshots go to tests/web/output/<test>/ (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

OUTPUT = Path(__file__).parent / "output"
DATA = Path(__file__).parent.parent / "data"
ODPADY = DATA / "DU_2020_poz3.pdf"  # infectious waste regulation, 3 pages
PODATEK = DATA / "DU_2020_poz12.pdf"  # income tax waiver, 1 page
QUESTION = "Jakie są warunki uznania odpadów za posiadające właściwości zakaźne?"
# The scripted model's answer: two valid markers, so the page has citation links to check.
REPLY = (
    "Odpady uznaje się za zakaźne, gdy zawierają drobnoustroje chorobotwórcze [1]. "
    "Szczegóły podaje rozporządzenie [2]."
)


def chromium_executable() -> str | None:
    given = os.environ.get("POLRAG_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable(reason: str) -> None:
    """Skip, or fail where CI demands the browser tests run (POLRAG_REQUIRE_BROWSER=1)."""
    if os.environ.get("POLRAG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (POLRAG_REQUIRE_BROWSER=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[test]'")
    executable = chromium_executable()
    if executable is None:
        unavailable("no chromium: run .ci/install-browser (apt-get install chromium) or set POLRAG_CHROMIUM")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--disable-dev-shm-usage"])
        yield launched
        launched.close()


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (imported here: without playwright the tests skip, not error)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@dataclass
class Watched:
    """A page with what it said: dialogs opened (alert, confirm) and console or script errors."""

    page: Any
    shots: Path
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture()
def open_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Watched]]:
    """open_page(base_url) -> the page at `/` in a fresh browser context."""
    shots = OUTPUT / request.node.name
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    contexts: list[Any] = []

    def open_(base: str) -> Watched:
        context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900}, locale="pl-PL")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page, shots)

        def on_dialog(dialog: Any) -> None:
            watched.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watched.errors.append(str(e)))
        page.goto("/")
        return watched

    yield open_
    for context in contexts:
        context.close()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app under uvicorn in a thread on a free loopback port; its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def web_settings(tmp_path: Path, minilm_path: str, **overrides: Any) -> Any:
    from rag.settings import Settings

    return Settings(
        index_dir=tmp_path / "indexes",
        embedding_model=minilm_path,
        device="cpu",
        lock_timeout_s=5,
        **overrides,
    )


@contextmanager
def app_server(settings: Any, embedder: Any, generator: Any = None) -> Iterator[str]:
    from api.app import create_app
    from rag.library import Library

    with serving(
        create_app(settings, library=Library(settings, embedder=embedder), generator=generator)
    ) as base:
        yield base


@pytest.fixture(scope="session")
def scripted_llm() -> Iterator[Any]:
    """An OpenAI-compatible server that streams REPLY piece by piece (slowly enough to see it grow)."""
    from tests.fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer(reply=REPLY) as server:
        server.piece_delay_s = 0.15
        yield server


def scripted_settings(
    tmp_path: Path, minilm_path: str, scripted_llm: Any, tiny_llm_path: str, **overrides: Any
) -> Any:
    """Settings answering through the real openai backend from the scripted model (tiny Bielik tokenizer)."""
    return web_settings(
        tmp_path,
        minilm_path,
        llm_backend="openai",
        llm_base_url=scripted_llm.url,
        llm_model=scripted_llm.model,
        llm_tokenizer=tiny_llm_path,
        **overrides,
    )


@pytest.fixture()
def server(
    tmp_path: Path, minilm_path: str, embedder: Any, scripted_llm: Any, tiny_llm_path: str
) -> Iterator[str]:
    """The app answering from the scripted model."""
    with app_server(scripted_settings(tmp_path, minilm_path, scripted_llm, tiny_llm_path), embedder) as base:
        yield base
