"""Real processes for end-to-end tests: the dashboard server as a subprocess, and a browser.

The server runs exactly as in production (`python -m onemap.cli serve`) on a free port,
against the test's own Redis and key prefix; it is waited for and always terminated. Signing in
goes through the real doors too: accounts and wall links are made with the real CLI, people sign
in through the real login form, walls through their kiosk link.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from dashboard.access.store import UserStore
from dashboard.briefing.pdf import BROWSER_ARGS
from dashboard.briefing.pdf import CHROMIUM as CHROMIUM  # the browser tests drive it too
from feeds.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = list(BROWSER_ARGS)  # the briefing's printer's own (dashboard/briefing/pdf.py)


PASSWORD = "correct horse battery"  # long enough for the password rule
CITY = "330200"


@dataclass
class Dashboard:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    redis_url: str = ""
    prefix: str = ""
    _wall_link: str = ""

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
            return json.loads(response.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        result = run_cli(args, self.redis_url, self.prefix, stdin)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def add_user(
        self, name: str, role: str, scope: str, password: str = PASSWORD, cli: bool = True
    ) -> None:
        """Through `onemap user add`, or straight into the same store when the test has many
        accounts to make (each CLI run loads the geography to check the scope)."""
        if cli:
            self.cli(
                ["user", "add", name, "--role", role, "--scope", scope, "--password-stdin"],
                stdin=password.encode() + b"\n",
            )
        else:
            self.store().add_user(name, role, scope, password)

    def store(self) -> UserStore:
        """The server's account store, on the test's Redis and prefix."""
        return UserStore(redis.Redis.from_url(self.redis_url), self.prefix)

    def add_kiosk(self, scope: str, name: str = "测试大屏", cli: bool = True) -> tuple[str, str]:
        """A new wall link made by `onemap kiosk add` (or straight in the store, in a blink):
        (kiosk id, the link's path and query)."""
        if not cli:
            kiosk, token = self.store().add_kiosk(scope, name)
            return kiosk.id, f"/wall?kiosk={token}"
        out = self.cli(["kiosk", "add", "--scope", scope, "--name", name]).stdout.decode()
        kiosk_id = re.search(r"^kiosk (\w+)", out, re.M).group(1)
        link = re.search(r"(/wall\?kiosk=\S+)", out).group(1)
        return kiosk_id, link

    def wall_link(self) -> str:
        """One city-wide wall link per server, made on first use. Straight in the store: tests
        that time the wall (stale after 3 s) cannot wait for a CLI to start."""
        if not self._wall_link:
            self._wall_link = self.add_kiosk(CITY, cli=False)[1]
        return self._wall_link


def sign_in_wall(page, server: Dashboard) -> None:
    """Open the city wall link once: the browser context then holds a wall session."""
    page.goto(server.url + server.wall_link())
    page.wait_for_url(re.compile(r"/wall$"))


def sign_in_page(page, url: str, name: str, password: str = PASSWORD) -> None:
    """Sign a browser page in through the form, as a person does; it lands on the wall."""
    page.goto(f"{url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/wall"))


def sign_in(server: Dashboard, name: str, password: str = PASSWORD) -> str:
    """Sign in through the real form (CSRF token included); returns the Cookie header to send.

    The session cookie is Secure (as in production), which no client sends over plain HTTP by
    itself: tests carry it by hand, which is what a browser on HTTPS would do.
    """
    form = fetch(f"{server.url}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.body).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "username": name, "password": password})
    answer = fetch(f"{server.url}/login", body.encode(), form.cookie)
    if answer.status != 302:
        raise PermissionError(f"sign-in refused: {answer.status}")
    return answer.cookie


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: str
    cookie: str  # "name=value" of the session cookie the response set, else the one sent


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, data: bytes | None = None, cookie: str = "", **headers: str) -> Fetched:
    """One request, redirects not followed, nothing raised for 4xx/5xx."""
    request = urllib.request.Request(url, data=data, headers=headers)
    if cookie:
        request.add_header("Cookie", cookie)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        body = response.read().decode(errors="replace")
        set_cookie = response.headers.get_all("Set-Cookie") or []
        new = next((c.split(";", 1)[0] for c in set_cookie if "onemap" in c), "")
        return Fetched(response.status, dict(response.headers.items()), body, new or cookie)


@contextmanager
def dashboard(
    redis_url: str, prefix: str, tmp: Path, port: int | None = None, wait: bool = True, **env: str
) -> Iterator[Dashboard]:
    """The server as a subprocess; ``wait``: until /healthz says ready (else only started)."""
    port = port or free_port()
    log_path = tmp / f"dashboard-{port}.log"
    environ = {
        **os.environ,
        "ONEMAP_REDIS_URL": redis_url,
        "ONEMAP_PREFIX": prefix,
        "ONEMAP_PORT": str(port),
        "ONEMAP_HOST": "127.0.0.1",
        "ONEMAP_DATA_DIR": str(tmp / "data"),  # its checkpoints and archive: the test's own
        # no morning briefings (eleven Chromium prints each, in every server started after
        # 07:00 China time): tests/test_briefing.py runs the morning on its own
        "ONEMAP_BRIEFING_AT": "",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "onemap.cli", "serve"],
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Dashboard(f"http://127.0.0.1:{port}", process, log_path, redis_url, prefix)
    try:
        if wait:
            _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Dashboard, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dashboard exited early:\n{server.log()}")
        try:
            if server.health().get("ready"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"dashboard not ready within {timeout}s:\n{server.log()}")


def run_cli(args: list[str], redis_url: str, prefix: str, stdin: bytes = b"", timeout: float = 120):
    env = dict(os.environ, ONEMAP_REDIS_URL=redis_url, ONEMAP_PREFIX=prefix)
    return subprocess.run(
        [sys.executable, "-m", "onemap.cli", *args],
        cwd=ROOT,
        input=stdin,
        env=env,
        capture_output=True,
        timeout=timeout,
    )
