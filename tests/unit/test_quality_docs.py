"""docs/quality.md lists exactly the expectations of lib/quality/suites.py."""

import importlib.util
import re
from pathlib import Path

from nexus_pipelines.lib.quality.suites import SUITES

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("quality_docs", ROOT / "tools" / "quality_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_document_is_in_sync_with_the_suites():
    text = (ROOT / "docs" / "quality.md").read_text(encoding="utf-8")
    assert text == _tool().render(), "docs/quality.md is stale: run python tools/quality_docs.py"


def test_every_suite_and_expectation_appears_once():
    text = (ROOT / "docs" / "quality.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## `([^`]+)`$", text, flags=re.M)
    assert headings == list(SUITES)
    rows = [line for line in text.splitlines() if line.startswith(("| critical |", "| warning |"))]
    assert len(rows) == sum(len(s.expectations) + 1 for s in SUITES.values())
