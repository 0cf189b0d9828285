"""The files in deploy/ are the ones the tests run (HAProxy's and Sentinel's are started by
tests/test_cluster.py and tests/test_failover.py); the systemd unit cannot run here (no systemd
as PID 1), so it is checked as systemd reads it and against what `onemap cluster` runs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from dashboard.ops.cluster import HAPROXY_CFG, SERVE, haproxy_binary
from onemap.server import STOP_S

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "systemd" / "onemap-serve@.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are cased
    parser.read(UNIT)
    return parser


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_the_replica_unit_is_valid_to_systemd():
    done = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, check=False
    )
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    # the only complaint allowed: the install path this machine does not have
    other = [line for line in said if "/opt/onemap/.venv/bin/onemap is not executable" not in line]
    assert other == [], said


def test_the_replica_unit_starts_what_the_cluster_starts_and_waits_for_the_drain():
    service = _unit()["Service"]
    command = service["ExecStart"].split()
    assert Path(command[0]).name == "onemap"
    assert command[1:] == [*SERVE, "%i"]
    assert float(service["TimeoutStopSec"]) >= STOP_S  # the drain is never cut short
    assert service["KillMode"] == "mixed"  # SIGTERM to the master only: it stops its worker


def test_the_balancer_configuration_is_valid_as_shipped():
    env = {
        "ONEMAP_LB_BIND": "127.0.0.1:18080",
        **{f"ONEMAP_REPLICA_{n}": f"127.0.0.1:1808{n}" for n in (1, 2, 3)},
    }
    done = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(HAPROXY_CFG)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
