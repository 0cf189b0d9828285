"""Settings: read from the environment, and every one of them documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.config import SettingError, Settings, documented_settings

# No promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_every_setting_is_documented():
    text = DOCS.read_text()
    missing = [name for name, _, _ in documented_settings() if f"`{name}`" not in text]
    assert missing == []


def test_settings_come_from_prefixed_environment_variables():
    settings = Settings.from_env({"ONEMAP_PORT": "9000", "ONEMAP_PREFIX": "x", "PORT": "1"})
    assert settings.port == 9000
    assert settings.prefix == "x"
    assert settings.redis_url == ""


def test_overrides_win_over_the_environment():
    assert Settings.from_env({"ONEMAP_PORT": "9000"}, port=1234).port == 1234


def test_yes_no_settings_read_zero_as_no():
    assert Settings.from_env({"ONEMAP_COOKIE_SECURE": "0"}).cookie_secure is False
    assert Settings.from_env({"ONEMAP_COOKIE_SECURE": "yes"}).cookie_secure is True


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"ONEMAP_HOT_DAYS": "2"}, "ONEMAP_HOT_DAYS must be at least 3"),
        ({"ONEMAP_LOG_DAYS": "2"}, "ONEMAP_LOG_DAYS (2) must be at least ONEMAP_HOT_DAYS (3)"),
        ({"ONEMAP_HOT_DAYS": "5", "ONEMAP_LOG_DAYS": "4"}, "ONEMAP_LOG_DAYS (4)"),
    ],
)
def test_a_history_setting_that_would_lose_incidents_is_refused_in_one_line(env, said):
    """A log shorter than the days memory keeps would lose, after a restart with no
    checkpoint, incidents closed in between: neither in the log nor yet in the archive."""
    with pytest.raises(SettingError, match=re.escape(said)):
        Settings.from_env(env)
    done = subprocess.run(
        [sys.executable, "-m", "onemap.cli", "serve"],
        env={**os.environ, "ONEMAP_REDIS_URL": "redis://127.0.0.1:1/0", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr
