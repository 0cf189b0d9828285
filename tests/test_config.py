"""Settings: read from the environment, and every one of them documented."""

from __future__ import annotations

from pathlib import Path

from dashboard.config import Settings, documented_settings

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
