"""Print line and branch coverage per package of nexus_pipelines from coverage's JSON report.

coverage.py reports per file; `make test` wants one line per package (lib/analytics, lib/formats,
defs/dbt, ...) and the total. Usage: python tools/coverage_by_package.py coverage.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path, PurePosixPath


def package_of(path: str) -> str:
    parts = PurePosixPath(path).parts
    start = parts.index("nexus_pipelines")
    folders = parts[start:-1]
    return "/".join(folders[:3]) if len(folders) > 1 else folders[0]


def main(report_path: str) -> None:
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for path, data in report["files"].items():
        summary = data["summary"]
        row = sums[package_of(path)]
        row[0] += summary["covered_lines"]
        row[1] += summary["num_statements"]
        row[2] += summary.get("covered_branches", 0)
        row[3] += summary.get("num_branches", 0)
    print(f"{'package':<34} {'lines':>8} {'branches':>9}")
    for name in sorted(sums):
        lines, statements, branches, all_branches = sums[name]
        print(f"{name:<34} {_pct(lines, statements):>8} {_pct(branches, all_branches):>9}")
    total = report["totals"]
    print(f"{'total (lines and branches)':<34} {total['percent_covered']:>7.1f}%")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


if __name__ == "__main__":
    main(sys.argv[1])
