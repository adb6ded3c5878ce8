"""A real headless Chromium (Debian's, driven by Playwright) against a real server with the demo world loaded."""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dolphin.client import Client
from tests.conftest import RunningServer, free_port

# The flags Chromium needs on a machine with no display, no GPU and no way out to the internet.
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update"]
TOKENS = {"reader": "reader-" + "r" * 20, "writer": "writer-" + "w" * 20}


def chromium_path() -> str | None:
    """Return the browser to drive: $DOLPHIN_CHROMIUM, or Debian's chromium on the PATH."""
    if os.environ.get("DOLPHIN_CHROMIUM"):
        return os.environ["DOLPHIN_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        message = "no Chromium to drive: apt-get install chromium (or set DOLPHIN_CHROMIUM)"
        if os.environ.get("DOLPHIN_REQUIRE_BROWSER") == "1":  # .ci/run installs it: a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Where screenshots and the first-paint figure go: $DOLPHIN_TEST_ARTIFACTS, else a temporary dir."""
    chosen = os.environ.get("DOLPHIN_TEST_ARTIFACTS")
    path = pathlib.Path(chosen) if chosen else tmp_path_factory.mktemp("console-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from tests.worlds import build_demo_world

    return build_demo_world(tmp_path_factory.mktemp("demo-world"))


def _serve(demo_data: dict[str, object], where: pathlib.Path, *extra: str) -> RunningServer:
    shutil.copytree(demo_data["data"], where)  # type: ignore[arg-type]
    return RunningServer(where, "--http-port", str(free_port()), *extra)


@pytest.fixture(scope="session")
def console_server(demo_data: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = _serve(demo_data, tmp_path_factory.mktemp("console") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def token_console_server(demo_data: dict[str, object],
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("console-tokens")
    (root / "tokens").write_text("".join(f"{token} {role}\n" for role, token in TOKENS.items()))
    running = _serve(demo_data, root / "data", "--auth-tokens", str(root / "tokens"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def grpc_client(console_server: RunningServer) -> Iterator[Client]:
    with Client(console_server.target) as client:
        yield client


@dataclass
class Console:
    """One browser tab on the console, with what the browser reported while it was open."""

    page: Any
    url: str
    messages: list[str] = field(default_factory=list)

    def open(self) -> Console:
        self.page.goto(self.url + "/")
        self.page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        return self

    def type_expression(self, text: str) -> None:
        """Replace the expression by typing it, key by key, as a person would."""
        editor = self.page.locator("#expr")
        editor.fill("")
        editor.press_sequentially(text, delay=5)
        self.page.keyboard.press("Escape")  # close the completion list

    def shown_count(self) -> int:
        """Wait for the count of the expression in the editor and return it."""
        self.page.wait_for_function(
            "() => document.getElementById('count').dataset.expression === document.getElementById('expr').value",
            timeout=10_000)
        return int(self.page.get_attribute("#count", "data-count") or "-1")

    def shown_error(self) -> str:
        """Wait for the error of the expression in the editor and return its message."""
        self.page.wait_for_function(
            "() => document.getElementById('expr-error').dataset.expression === document.getElementById('expr').value",
            timeout=10_000)
        return str(self.page.inner_text("#expr-error-text"))

    def table(self, selector: str) -> list[list[str]]:
        """Return the text of a rendered table's body cells, row by row."""
        self.page.wait_for_selector(selector, timeout=15_000)
        rows = self.page.locator(f"{selector} tbody tr")
        return [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]

    def raw(self, selector: str, column: int) -> list[str]:
        """Return the exact values behind one column of a table (data-value), row by row."""
        cells = self.page.locator(f"{selector} tbody tr td:nth-child({column + 1})")
        return [cells.nth(i).get_attribute("data-value") or cells.nth(i).inner_text() for i in range(cells.count())]

    def tab(self, name: str) -> None:
        self.page.click(f"button[data-tab={name}]")

    def problems(self) -> list[str]:
        """Script errors and Content-Security-Policy violations the browser reported."""
        return [m for m in self.messages if m.startswith("pageerror") or "Content Security Policy" in m]


def _console(browser: Any, server: RunningServer) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True, locale="en-US")
    page = context.new_page()
    console = Console(page, server.http_url)
    page.on("console", lambda m: console.messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.messages.append(f"pageerror: {e}"))
    yield console
    context.close()
    assert console.problems() == []


@pytest.fixture
def console(browser: Any, console_server: RunningServer) -> Iterator[Console]:
    yield from _console(browser, console_server)


@pytest.fixture
def token_console(browser: Any, token_console_server: RunningServer) -> Iterator[Console]:
    yield from _console(browser, token_console_server)
