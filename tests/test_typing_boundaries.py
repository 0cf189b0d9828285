"""The feeds, the state and the analytics keep to their boundaries: containment by area code is
asked of ``feeds.geo.codes``, no module grows past 400 lines, and the modules split to stay
under it still export every name their importers use."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = [
    *sorted((ROOT / "feeds").rglob("*.py")),
    ROOT / "dashboard" / "state.py",
    *sorted((ROOT / "dashboard" / "analytics").rglob("*.py")),
]
# feeds.geo is where codes are taken apart; build.py makes the data (and is exempt from size).
# catalogue.py slices category codes ("zz01"[:2] is the platform), not area codes.
OUTSIDE_GEO = [
    p for p in CHECKED if (ROOT / "feeds" / "geo") not in p.parents and p.name != "catalogue.py"
]
# A county, town, village or grid cut out of a longer code; a code's level told by its length;
# containment spelled as a prefix test.
SLICING = re.compile(
    r"\[:(6|9|12|15)\]|\b(area|code|grid|scope)\[:"
    r"|len\((area|code|grid|scope|parent)\)\s*(==|!=|<|>|<=|>=)"
    r"|\b(code|grid|area|village)\.startswith\("
)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", OUTSIDE_GEO, ids=_name)
def test_no_area_code_slicing_outside_the_geography(path):
    found = [
        f"{_name(path)}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SLICING.search(line)
    ]
    assert not found, "use feeds.geo.codes (prefix, chain, scopes_of, contains):\n" + "\n".join(
        found
    )


@pytest.mark.parametrize("path", [p for p in CHECKED if p.name != "build.py"], ids=_name)
def test_no_module_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "feeds.bus",
            ["ACTIONS", "EVENTS", "POSITIONS", "WARNINGS", "Bus", "Entry", "decode_entry"],
        ),
        (
            "feeds.schema",
            [
                "CHINA_TZ", "DEFAULT_LIMITS", "MAX_ACTION_TEXT", "MAX_DETAIL_CHARS",
                "MAX_MESSAGE_BYTES", "REJECTION_REASONS", "ActionMessage", "ActionVerb", "AreaRef",
                "EventMessage", "Limits", "Message", "PositionMessage", "Rejection", "Severity",
                "Source", "StepType", "WarningMessage", "WorkerStatus", "decode_action",
                "decode_trusted", "decode_warning", "encode", "validate",
            ],
        ),
        ("feeds.archive", ["KINDS", "SCHEMA", "Archive", "archive_log", "rollup", "trend"]),
        ("dashboard.analytics.metrics", ["Facts", "Figures", "Metrics", "ratio"]),
        ("dashboard.analytics.outbox", ["Outbox", "payload", "rooms_of"]),
    ],
)
def test_split_modules_still_export_their_names(module, names):
    loaded = importlib.import_module(module)
    missing = [name for name in names if not hasattr(loaded, name)]
    assert not missing


def test_a_bus_still_reads_writes_and_keeps_refusals():
    from feeds.bus import Bus

    for method in ("publish", "ingest", "ingest_inbox", "replay", "follow", "log_batches",
                   "range_raw", "subscribe", "warnings", "actions", "dead_letter", "dead_letters"):
        assert callable(getattr(Bus, method))
