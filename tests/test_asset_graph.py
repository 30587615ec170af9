"""A snapshot of the asset graph: keys, groups, deps, partitions, checks and steps.

Any change to the graph fails this test with the difference shown. When the change is intended,
write the new snapshot and review it in the diff like code:

    NEXUS_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/test_asset_graph.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

from nexus_pipelines.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def describe_graph() -> dict:
    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check_key in graph.asset_check_keys:
        checks.setdefault(check_key.asset_key.to_user_string(), []).append(check_key.name)
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "step": defs.resolve_assets_def(key).node_def.name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitions": type(partitions).__name__ if partitions else None,
            "checks": sorted(checks.get(key.to_user_string(), [])),
        }
    jobs = sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__"))
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
    }


def test_asset_graph_matches_its_snapshot():
    current = json.dumps(describe_graph(), indent=1, sort_keys=True) + "\n"
    if os.environ.get("NEXUS_UPDATE_SNAPSHOT") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current)
    expected = SNAPSHOT.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(True), current.splitlines(True), "snapshot", "current graph", n=2
        )
    )
    assert not diff, f"the asset graph changed (NEXUS_UPDATE_SNAPSHOT=1 to accept):\n{diff}"
