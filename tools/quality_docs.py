"""Write docs/quality.md, the list of every expectation of every suite, from lib/quality/suites.py.

Run ``python tools/quality_docs.py`` after changing a suite; ``tests/unit/test_quality_docs.py``
fails while the file and the suites disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nexus_pipelines.lib.quality.suites import CRITICAL, SUITES  # noqa: E402

DOC = ROOT / "docs" / "quality.md"

HEADER = """# Data quality suites

Generated from `nexus_pipelines/lib/quality/suites.py` by `python tools/quality_docs.py`; do not
edit by hand. Each suite runs as two asset checks on its table: `gx_critical` (blocking, ERROR)
holds the critical expectations and the column types, `gx_warning` (WARN) the others. Raw suites
validate the rows of the run's partition window (`_partition_date`), mart suites the rows of the
window on the mart's date column; a run without a window validates every row.
"""


def render() -> str:
    parts = [HEADER.rstrip("\n")]
    for suite in SUITES.values():
        window = f"window on `{suite.window_column}`" if suite.window_column else "every row"
        parts.append(
            f"\n## `{suite.name}`\n\n{suite.description}; {window}; failing rows named by "
            f"{', '.join(f'`{c}`' for c in suite.row_id)}.\n"
        )
        parts.append("| severity | expectation | rule |\n|---|---|---|")
        for expect in suite.expectations:
            rule = expect.description.replace("|", "\\|")
            parts.append(f"| {expect.severity} | `{expect.kind}` | {rule} |")
        types = ", ".join(f"`{c}` {t}" for c, t in suite.column_types.items())
        parts.append(f"| {CRITICAL} | `ExpectColumnValuesToBeOfType` | column types: {types} |")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
