"""Shared fixtures: one real redis-server per test session, a fresh key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from feeds.bus import Bus
from feeds.geo import Geography, load_geography
from feeds.redis_server import RedisProcess, start_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_server: RedisProcess) -> Iterator[redis.Redis]:
    client = redis_server.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bus(redis_client: redis.Redis, prefix: str) -> Bus:
    return Bus(redis_client, prefix=prefix)


@pytest.fixture(scope="session")
def geo() -> Geography:
    return load_geography()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.live import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def sized_page(browser, width: int = 1920, height: int = 1080) -> Iterator:
    """A page in a window of its own, in China's language and time zone; ``page.js_errors``
    collects the page's uncaught errors."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser):
    with sized_page(browser) as page:
        yield page
