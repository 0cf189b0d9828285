"""ONEMAP_REDIS_URL: one server, or a Sentinel group (feeds.outage.sentinel_url and connect).

The parsing is pure; the last tests start a real group (deploy/sentinel/ templates) and check
that a client made from the URL reaches the master, with the options every client gets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from feeds.outage import SOCKET_TIMEOUT_S, SentinelURL, connect, sentinel_url
from feeds.redis_group import RedisGroup, render, start_group

# Its own servers and Redis, no promise about time: side by side with the fault tests.
pytestmark = pytest.mark.parallel

THREE = "127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381"
SENTINELS = [("127.0.0.1", 26379), ("127.0.0.1", 26380), ("127.0.0.1", 26381)]


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://h:6380/1", "unix:///run/redis.sock", ""]
)
def test_plain_redis_url_is_not_a_sentinel_group(url):
    assert sentinel_url(url) is None


def test_sentinel_url_names_sentinels_db_and_service():
    assert sentinel_url(f"redis+sentinel://{THREE}/2/onemap") == SentinelURL(SENTINELS, "onemap", 2)


def test_sentinel_url_without_db_means_db_0():
    assert sentinel_url("redis+sentinel://10.0.0.5:26379/onemap") == SentinelURL(
        [("10.0.0.5", 26379)], "onemap", 0
    )


def test_sentinel_url_password_is_the_masters_and_unquoted():
    found = sentinel_url(f"redis+sentinel://:s%40cret@{THREE}/0/onemap")
    assert found == SentinelURL(SENTINELS, "onemap", 0, None, "s@cret")
    named = sentinel_url(f"redis+sentinel://app:pw@{THREE}/0/onemap")
    assert named is not None and (named.username, named.password) == ("app", "pw")


def test_sentinel_url_takes_ipv6_and_host_names():
    found = sentinel_url("redis+sentinel://[::1]:26379,sentinel-b:26380/0/onemap")
    assert found is not None and found.sentinels == [("::1", 26379), ("sentinel-b", 26380)]


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://127.0.0.1:26379/0",  # the service missing: "0" is read as the db
        "redis+sentinel://127.0.0.1:26379/onemap/0",  # service and db swapped
        "redis+sentinel://127.0.0.1:26379",  # no service
        "redis+sentinel:///0/onemap",  # no sentinel
        "redis+sentinel://127.0.0.1/0/onemap",  # no port
        "redis+sentinel://127.0.0.1:26379/0/onemap/extra",
    ],
)
def test_malformed_sentinel_url_is_refused_with_the_expected_form(url):
    with pytest.raises(ValueError, match="HOST:PORT|/DB/SERVICE"):
        sentinel_url(url)


def test_plain_url_client_is_unchanged(redis_server):
    client = connect(redis_server.url, "onemap-test-plain")
    try:
        assert client.ping()
        assert client.client_getname() == "onemap-test-plain"
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == SOCKET_TIMEOUT_S and kwargs["socket_keepalive"]
    finally:
        client.close()


def test_templates_fill_every_placeholder():
    values = {
        "host": "127.0.0.1",
        "port": "1",
        "dir": "/tmp/x",
        "primary_host": "127.0.0.1",
        "primary_port": "2",
        "service": "onemap",
        "quorum": "2",
        "down_after_ms": "3000",
        "failover_timeout_ms": "10000",
    }
    for name in ("redis-primary.conf", "redis-replica.conf", "sentinel.conf"):
        assert "$" not in render(name, values)


@pytest.fixture(scope="module")
def group(tmp_path_factory) -> Iterator[RedisGroup]:
    with start_group(tmp_path_factory.mktemp("group")) as started:
        yield started


def test_sentinel_url_client_reaches_the_master_with_every_option(group):
    client = connect(group.url, "onemap-test-sentinel", socket_timeout=1.5)
    try:
        client.set("onemap-test:k", "v")
        assert client.client_getname() == "onemap-test-sentinel"
        master = group.master()
        assert client.connection_pool.get_master_address() == ("127.0.0.1", master.port)
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 1.5 and kwargs["socket_keepalive"]
        assert kwargs["health_check_interval"] == 10
    finally:
        client.close()


def test_sentinel_url_of_an_unknown_service_fails_as_an_outage(group):
    client = connect(group.url.replace("/onemap", "/nosuch"), "onemap-test-unknown")
    with pytest.raises(redis.ConnectionError):  # MasterNotFoundError: retried like any outage
        client.ping()
