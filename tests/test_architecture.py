"""The code keeps to its architecture (README, "Layout"): containment by area code is asked of
``feeds.geo.codes``, no module grows past 400 lines, imports go one way (onemap → layouts →
dashboard → feeds), every ``type: ignore`` is one a library forces and says why, and the modules
split to stay small still export every name their importers use."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("onemap", "layouts", "dashboard", "feeds")  # each may import only those after it
CHECKED = [ROOT / "app.py", *(p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")))]
# feeds.geo is where codes are taken apart; build.py makes the data (and is exempt from size).
# catalogue.py slices category codes ("zz01"[:2] is the platform), not area codes.
OUTSIDE_GEO = [
    p for p in CHECKED if (ROOT / "feeds" / "geo") not in p.parents and p.name != "catalogue.py"
]
PACKAGE_FILES = [p for p in CHECKED if p.parent != ROOT]
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
        ("dashboard.analytics.outbox", ["Outbox", "payload"]),
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


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=_name)
def test_imports_go_one_way_down_the_layers(path):
    own = path.relative_to(ROOT).parts[0]
    above = PACKAGES[: PACKAGES.index(own)]
    upward = sorted(m for m in _imported(path) if m.split(".")[0] in above or m == "tests")
    assert not upward, f"{_name(path)} imports a layer above it: {upward}"
    assert not any(m.split(".")[0] == "tests" for m in _imported(path))


IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(.*)$")


def test_type_ignores_are_few_and_each_says_why():
    everywhere = [
        p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and "node_modules" not in p.parts
    ]
    found = [
        (path, n, match)
        for path in everywhere
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if (match := IGNORE.search(line))
    ]
    assert len(found) < 10, [f"{_name(p)}:{n}" for p, n, _ in found]
    unexplained = [
        f"{_name(p)}:{n}" for p, n, m in found if not m.group(1) or "#" not in m.group(2)
    ]
    assert not unexplained, "a type: ignore names its error code and, after a #, its reason"
