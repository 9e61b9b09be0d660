"""One small interface over three real browser engines, so each end-to-end flow is written once.

Chromium is Debian's package driven by Playwright (with its executable path set, since Playwright's own
browser download cannot run here); Firefox ESR is driven by Selenium through geckodriver (built by
`cargo install` into `.local/cargo`); WebKitGTK is driven by Selenium through Debian's `WebKitWebDriver`,
whose MiniBrowser has no headless mode and so runs under Xvfb. `scripts/install_browsers.sh` installs all
of them.

Scripts passed to `Page.js` are function bodies that read their arguments from `arguments` and may
return a promise; each adapter waits for it, so the flows are engine-neutral.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FIREFOX = Path("/usr/bin/firefox-esr")
GECKODRIVER = ROOT / ".local" / "cargo" / "bin" / "geckodriver"
WEBKIT_DRIVER = Path("/usr/bin/WebKitWebDriver")
MINIBROWSER = Path("/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")
XVFB = Path("/usr/bin/Xvfb")
ENGINES = ("chromium", "firefox", "webkit")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
KEYS = ("Enter", "Escape", "Tab", "Shift+Tab")

# Selenium Manager must never try to download a driver or a browser: this machine has no such network.
os.environ.setdefault("SE_OFFLINE", "true")


class EngineUnavailable(RuntimeError):
    """The engine's binaries are missing; the message says what to install."""


@dataclass(frozen=True)
class Artifacts:
    """Where a test run keeps what a person would want to look at afterwards."""

    screenshots: Path
    reports: Path
    logs: Path


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int


DESKTOP = Viewport(1280, 900)
PHONE = Viewport(390, 844)


class Page(Protocol):
    """What the flows need from a browser tab."""

    engine: str
    version: str

    def goto(self, url: str) -> None: ...
    def reload(self) -> None: ...
    def js(self, body: str, *args: Any) -> Any: ...
    def click(self, css: str, *, in_widget: bool = True) -> None: ...
    def type_text(self, text: str) -> None: ...
    def press(self, key: str) -> None: ...
    def screenshot(self, path: Path) -> None: ...
    def native_dialogs(self) -> list[str]: ...
    def close(self) -> None: ...


SHADOW_QUERY = "return document.querySelector('assist-chat').shadowRoot.querySelector(arguments[0]);"


class PlaywrightPage:
    """Chromium through Playwright's sync API."""

    engine = "chromium"

    def __init__(self, viewport: Viewport, locale: str) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
        except Exception:
            self._pw.stop()
            raise
        self.version = f"Chromium {self._browser.version}"
        self._context = self._browser.new_context(
            viewport={"width": viewport.width, "height": viewport.height}, locale=locale
        )
        self._page = self._context.new_page()
        self._page.set_default_timeout(20_000)
        self._dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            self._dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        self._page.on("dialog", on_dialog)

    def goto(self, url: str) -> None:
        self._page.goto(url)

    def reload(self) -> None:
        self._page.reload()

    def js(self, body: str, *args: Any) -> Any:
        return self._page.evaluate(f"(args) => (function() {{ {body} }}).apply(null, args)", list(args))

    def click(self, css: str, *, in_widget: bool = True) -> None:
        # Playwright's CSS locators pierce open shadow roots.
        self._page.locator(f"assist-chat {css}" if in_widget else css).first.click()

    def type_text(self, text: str) -> None:
        self._page.keyboard.type(text)

    def press(self, key: str) -> None:
        self._page.keyboard.press(key)

    def screenshot(self, path: Path) -> None:
        self._page.screenshot(path=str(path))

    def native_dialogs(self) -> list[str]:
        return list(self._dialogs)

    def add_script(self, path: Path) -> None:
        """Run a test tool's script (axe-core) in the page. Evaluated through the driver, not as a <script>
        tag: the demo pages' CSP refuses inline scripts, as it should, and the tool is not the page's."""
        self._page.evaluate(path.read_text(encoding="utf-8"))

    def fail_turns(self, times: int, status: int = 503) -> list[str]:
        """Answer the next `times` turn POSTs with an edge-style error instead of sending them; return the
        list (filled as requests happen) of every turn's clientMessageId, failed or passed through."""
        seen: list[str] = []

        def handle(route: Any, request: Any) -> None:
            if request.method != "POST":
                route.fallback()
                return
            seen.append(str(json.loads(request.post_data or "{}").get("clientMessageId", "")))
            if len(seen) > times:
                route.fallback()
                return
            error = {"code": "UNAVAILABLE", "message": "injected by the test", "retryable": True}
            route.fulfill(
                status=status,
                headers={"Retry-After": "1"},
                content_type="application/json",
                body=json.dumps({"error": error}),
            )

        self._page.route("**/v1/conversations/*/messages", handle)
        return seen

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._context.close()
            self._browser.close()
        self._pw.stop()


class SeleniumPage:
    """Firefox ESR or WebKitGTK through Selenium."""

    def __init__(self, engine: str, driver: Any, version: str, on_close: list[Any]) -> None:
        self.engine = engine
        self.version = version
        self._driver = driver
        self._on_close = on_close
        self._dialogs: list[str] = []
        driver.set_script_timeout(30)
        driver.set_page_load_timeout(30)

    def goto(self, url: str) -> None:
        self._driver.get(url)

    def reload(self) -> None:
        self._driver.refresh()

    def js(self, body: str, *args: Any) -> Any:
        self._check_dialog()
        script = (
            "const done = arguments[arguments.length - 1];"
            "const args = Array.prototype.slice.call(arguments, 0, -1);"
            f"Promise.resolve().then(() => (function() {{ {body} }}).apply(null, args))"
            ".then(done, (e) => done({__error: String(e && e.stack || e)}));"
        )
        result = self._driver.execute_async_script(script, *args)
        if isinstance(result, dict) and "__error" in result:
            raise RuntimeError(f"{self.engine}: script failed: {result['__error']}")
        return result

    def _element(self, css: str, in_widget: bool) -> Any:
        from selenium.webdriver.common.by import By

        if not in_widget:
            return self._driver.find_element(By.CSS_SELECTOR, css)
        element = self._driver.execute_script(SHADOW_QUERY, css)
        if element is None:
            raise AssertionError(f"{self.engine}: no {css} in the widget")
        return element

    def click(self, css: str, *, in_widget: bool = True) -> None:
        self._element(css, in_widget).click()

    def type_text(self, text: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self._driver).send_keys(text).perform()

    def press(self, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        names = {"Enter": Keys.ENTER, "Escape": Keys.ESCAPE, "Tab": Keys.TAB}
        chain = ActionChains(self._driver)
        if key == "Shift+Tab":
            chain.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT)
        else:
            chain.send_keys(names[key])
        chain.perform()

    def screenshot(self, path: Path) -> None:
        self._driver.save_screenshot(str(path))

    def _check_dialog(self) -> None:
        from selenium.common.exceptions import NoAlertPresentException

        try:
            alert = self._driver.switch_to.alert
        except NoAlertPresentException:
            return
        self._dialogs.append(f"alert: {alert.text}")
        alert.dismiss()

    def native_dialogs(self) -> list[str]:
        self._check_dialog()
        return list(self._dialogs)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._driver.quit()
        for closer in self._on_close:
            with contextlib.suppress(Exception):
                closer()


def _require(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise EngineUnavailable(f"missing {', '.join(missing)}: run scripts/install_browsers.sh")


def _firefox(viewport: Viewport, locale: str, log_dir: Path) -> SeleniumPage:
    from selenium import webdriver
    from selenium.webdriver.firefox.options import Options
    from selenium.webdriver.firefox.service import Service

    _require(FIREFOX, GECKODRIVER)
    options = Options()
    options.binary_location = str(FIREFOX)
    options.add_argument("-headless")
    options.add_argument(f"--width={viewport.width}")
    options.add_argument(f"--height={viewport.height}")
    # No update, telemetry or safe-browsing calls: the machine has no network beyond loopback.
    prefs: dict[str, str | bool] = {
        "intl.accept_languages": locale,
        "app.update.disabledForTesting": True,
        "browser.safebrowsing.malware.enabled": False,
        "browser.safebrowsing.phishing.enabled": False,
        "datareporting.policy.dataSubmissionEnabled": False,
        "network.captive-portal-service.enabled": False,
        "network.connectivity-service.enabled": False,
        "toolkit.telemetry.enabled": False,
    }
    for pref, value in prefs.items():
        options.set_preference(pref, value)
    service = Service(executable_path=str(GECKODRIVER), log_output=str(log_dir / "geckodriver.log"))
    driver = webdriver.Firefox(options=options, service=service)
    driver.set_window_size(viewport.width, viewport.height)
    caps = driver.capabilities
    return SeleniumPage("firefox", driver, f"Firefox {caps.get('browserVersion', '?')}", [])


@contextlib.contextmanager
def xvfb_display() -> Iterator[str]:
    """Start Xvfb on a free display number (it picks one and writes it to a pipe) and yield `:N`."""
    _require(XVFB)
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [str(XVFB), "-displayfd", str(write_fd), "-screen", "0", "1400x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise EngineUnavailable("Xvfb did not report a display")
        yield f":{number}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _webkit(viewport: Viewport, locale: str, log_dir: Path) -> SeleniumPage:
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    _require(WEBKIT_DRIVER, MINIBROWSER)
    display = xvfb_display()
    display_name = display.__enter__()
    try:
        options = Options()
        options.binary_location = str(MINIBROWSER)
        options.add_argument("--automation")
        env = dict(os.environ, DISPLAY=display_name, LANGUAGE=locale.replace("-", "_"))
        service = Service(
            executable_path=str(WEBKIT_DRIVER), log_output=str(log_dir / "webkitwebdriver.log"), env=env
        )
        with warnings.catch_warnings():
            # Selenium's own WebKitGTK class still passes the address the deprecated way (selenium 4.51).
            warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
            driver = webdriver.WebKitGTK(options=options, service=service)
    except BaseException:
        display.__exit__(None, None, None)
        raise
    with contextlib.suppress(Exception):
        driver.set_window_size(viewport.width, viewport.height)
    caps = driver.capabilities
    version = f"WebKitGTK {caps.get('browserVersion', '?')}"
    return SeleniumPage("webkit", driver, version, [lambda: display.__exit__(None, None, None)])


def open_page(engine: str, log_dir: Path, viewport: Viewport = DESKTOP, locale: str = "en-US") -> Page:
    """Start `engine` with one tab. Raises EngineUnavailable when its binaries are not installed."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if engine == "chromium":
        _require(CHROMIUM)
        return PlaywrightPage(viewport, locale)
    if engine == "firefox":
        return _firefox(viewport, locale, log_dir)
    if engine == "webkit":
        return _webkit(viewport, locale, log_dir)
    raise ValueError(f"unknown engine {engine!r}")


def which_engines_installed() -> dict[str, bool]:
    """For the report: which engines this machine can start."""
    return {
        "chromium": CHROMIUM.exists(),
        "firefox": FIREFOX.exists() and GECKODRIVER.exists(),
        "webkit": WEBKIT_DRIVER.exists() and MINIBROWSER.exists() and shutil.which("Xvfb") is not None,
    }
