"""`eos-tui serve` in a real browser: Debian's Chromium, headless, driven by Selenium.

The page is loaded from the server, its JavaScript (textual-serve's xterm.js client) connects to the
app, the app's screen arrives in the browser's terminal, a key pressed in the browser reaches the
app and changes its screen. xterm.js draws on a canvas, so the test reads what the page's terminal
received: a script installed before the page's own wraps the browser's WebSocket and keeps the
bytes the terminal is given (the very bytes it draws), and a screenshot checks that it drew.

Also, without a browser: every asset the page asks for comes from the server itself (no outside
font service: behind an SSH tunnel or offline it would be unreachable).

Chromium and ChromeDriver are Debian's packages (`apt-get install chromium chromium-driver`);
.ci/run installs them and sets EOS_TUI_REQUIRE_BROWSER=1, so that in CI a missing browser fails
the test instead of skipping it.
"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("textual_serve")

from tests.app import synthetic  # noqa: E402
from tests.test_serve import free_port, get, start, stop  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class Assets(html.parser.HTMLParser):
    """Every URL the page loads: scripts, style sheets, images, and url(...) inside <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"] or "")
        if tag in ("link", "img") and (a.get("href") or a.get("src")):
            self.urls.append(a.get("href") or a.get("src") or "")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)
            self.urls += re.findall(r"@import\s+['\"]([^'\"]+)", data)


def test_every_asset_of_the_page_comes_from_the_server(tmp_path):
    run = synthetic.make_run(tmp_path / "served-run", steps=20)
    port = free_port()
    server = start(str(run), "--port", str(port), cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}/"
        page = get(base, time.monotonic() + 60)
        parser = Assets()
        parser.feed(page)
        urls = [urllib.parse.urljoin(base, u) for u in parser.urls]
        assert any(u.endswith(".ttf") for u in urls), "the page names its font"
        assert any(u.endswith("textual.js") for u in urls)
        for url in urls:
            assert urllib.parse.urlsplit(url).netloc == f"127.0.0.1:{port}", f"the page loads {url} from another host"
            with urllib.request.urlopen(url, timeout=60) as r:
                assert r.status == 200 and r.read(), url
            if url.endswith(".css"):
                with urllib.request.urlopen(url, timeout=60) as r:
                    css = r.read().decode("utf-8", "replace")
                # a style sheet's own url(...) would be fetched too
                for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
                    assert not urllib.parse.urlsplit(ref).netloc, f"{url} loads {ref}"
    finally:
        code, err = stop(server)
    assert code == 0, err


# Installed before the page's own scripts: keeps, as text, the bytes each WebSocket receives
# (what textual.js writes into the terminal), with escape sequences removed.
RECORD_SOCKET = r"""
window.__eosScreen = "";
const Native = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new Native(...args);
  const decoder = new TextDecoder();
  ws.addEventListener("message", (e) => {
    if (e.data instanceof ArrayBuffer) {
      const text = decoder.decode(new Uint8Array(e.data), {stream: true});
      window.__eosScreen += text.replace(/\x1b\[[0-9;?$<>=]*[A-Za-z~]/g, "").replace(/\x1b[()][0-9A-Za-z]/g, "");
    }
  });
  return ws;
};
window.WebSocket.prototype = Native.prototype;
Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""


def _browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("EOS_TUI_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The flags that keep Chromium from reaching for outside hosts at start (a closed network refuses
    # them, many at a time), and root's need for --no-sandbox.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def _wait_for(driver, words: tuple[str, ...], deadline: float) -> str:
    text = ""
    while time.monotonic() < deadline:
        text = driver.execute_script("return window.__eosScreen || ''")
        if all(w in text for w in words):
            return text
        time.sleep(0.1)
    missing = [w for w in words if w not in text]
    raise AssertionError(f"the browser's terminal never showed {missing}; it got: {text[-2000:]!r}")


def test_the_app_in_chromium_shows_its_screen_and_takes_a_key(tmp_path):
    run = synthetic.make_run(tmp_path / "served-run", steps=200)
    port = free_port()
    server = start(str(run), "--port", str(port), cwd=tmp_path)
    driver = None
    try:
        get(f"http://127.0.0.1:{port}/", time.monotonic() + 60)
        driver = _browser()
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_SOCKET})
        driver.get(f"http://127.0.0.1:{port}/")
        # the app's screen, drawn by the page's terminal
        _wait_for(driver, ("eos-tui", "synthetic", "completed", "Sharpness"), time.monotonic() + 120)
        # the font came from the server and is the one the terminal uses
        deadline = time.monotonic() + 60
        loaded = "return [...document.fonts].some(f => f.family.includes('Roboto Mono') && f.status === 'loaded')"
        while not driver.execute_script(loaded):
            assert time.monotonic() < deadline, "the page's font never loaded"
            time.sleep(0.1)
        before = driver.execute_script("return window.__eosScreen.length")
        # a key typed into the page reaches the app: `?` opens the help, whose title is on no other screen
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        terminal = driver.find_element(By.ID, "terminal")
        ActionChains(driver).move_to_element(terminal).click().perform()
        deadline = time.monotonic() + 120
        while True:
            ActionChains(driver).send_keys("?").perform()
            try:
                _wait_for(driver, ("the edge of stability, live",), time.monotonic() + 10)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        assert driver.execute_script("return window.__eosScreen.length") > before
        # the terminal drew: the screenshot of its element is not one flat colour
        png = terminal.screenshot_as_png
        (tmp_path / "served.png").write_bytes(png)
        import io

        from matplotlib import image

        pixels = image.imread(io.BytesIO(png), format="png")
        assert pixels.std() > 0.05, "the terminal's canvas is blank"
    finally:
        if driver is not None:
            driver.quit()
        code, err = stop(server)
    assert code == 0, err
