"""The documentation stands alone and covers every table users read.

* README.md and docs/*.md point at nothing outside the repository: no ``../``, no absolute path of
  this checkout, no notes kept elsewhere;
* every relative link in them resolves to a file of the repository, and every ``#anchor`` to a
  heading of the target page;
* docs/metrics.md has a section ``### `<table>``` for every mart model (every model in the YAML
  under dbt_project/models/marts/) and every analytics table (each ``Table(...)`` of
  nexus_pipelines/defs/analytics/), and that section names **every** column of the table in
  backticks. There is no skip rule: key, date and text columns are listed too (under "Other
  columns"), so a column added to a mart without documentation fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from nexus_pipelines.lib.config import PROJECT_ROOT

DOCS = sorted((PROJECT_ROOT / "docs").glob("*.md"))
PAGES = [PROJECT_ROOT / "README.md", *DOCS]
METRICS = PROJECT_ROOT / "docs" / "metrics.md"
MARTS = PROJECT_ROOT / "dbt_project" / "models" / "marts"
ANALYTICS_DEFS = PROJECT_ROOT / "nexus_pipelines" / "defs" / "analytics"

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def page_id(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def prose(text: str) -> str:
    """The page without its fenced code blocks (a link inside a code block is not a link)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(prose(path.read_text(encoding="utf-8"))):
        base = slug(heading)
        name, n = base, 0
        while name in found:  # GitHub numbers repeated headings: x, x-1, x-2
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_mentions_nothing_outside_the_repository(page):
    """No path that leaves the repository and no name of notes kept outside it (METRICS.md only in
    upper case: this repository's own page is docs/metrics.md)."""
    text = page.read_text(encoding="utf-8")
    if page.parent.name == "docs":  # a docs page's link up to the README stays inside the repository
        text = text.replace("](../README.md", "](README.md")
    found = [word for word in ("../", "METRICS.md", str(PROJECT_ROOT)) if word in text]
    found += [word for word in ("DESIGN.md", "shared/") if word.lower() in text.lower()]
    assert not found, f"{page_id(page)} mentions {found}: the repository must stand alone"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve_inside_the_repository(page):
    problems = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.is_relative_to(PROJECT_ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.is_file():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {page_id(resolved)}")
    assert not problems, f"{page_id(page)}: broken links:\n" + "\n".join(problems)


def mart_columns() -> dict[str, list[str]]:
    """model -> its columns, from every marts YAML file."""
    tables: dict[str, list[str]] = {}
    for path in sorted(MARTS.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            tables[model["name"]] = [column["name"] for column in model.get("columns") or []]
    return tables


def analytics_columns() -> dict[str, list[str]]:
    """analytics table -> its columns, from the ``Table(name, columns, ...)`` definitions.

    Read from the source (no import: the asset modules need the dbt manifest); the columns are a
    dict literal in the call or a module-level dict the call names.
    """
    tables: dict[str, list[str]] = {}
    for path in sorted(ANALYTICS_DEFS.glob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        dicts = {
            target.id: node.value
            for node in module.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(module):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Table"):
                continue
            name, columns = node.args[0], node.args[1]
            if isinstance(columns, ast.Name):
                columns = dicts[columns.id]
            assert isinstance(name, ast.Constant) and isinstance(columns, ast.Dict), ast.dump(node)
            tables[str(name.value)] = [
                str(key.value) for key in columns.keys if isinstance(key, ast.Constant)
            ]
    return tables


def metric_sections() -> dict[str, str]:
    """``### `table` `` heading -> the text of its section in docs/metrics.md."""
    text = METRICS.read_text(encoding="utf-8")
    parts = re.split(r"^###\s+`([a-z0-9_]+)`.*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_the_table_lists_are_read():
    marts, analytics = mart_columns(), analytics_columns()
    # known tables and columns, so that a parser that finds nothing cannot pass the test below
    assert {"fct_daily_sales", "fct_period_comparison", "dim_date", "fct_sessions"} <= set(marts)
    assert "net_sales_yoy_change_pct" in marts["fct_period_comparison"]
    assert {"store_daily_summary", "customer_ltv", "experiment_results", "markov_removal_effects"} <= set(
        analytics
    )
    assert "sales_wow_pct" in analytics["store_daily_summary"]
    # every mart model's SQL has its YAML entry, and the ten analytics tables are all found
    assert set(marts) == {path.stem for path in MARTS.rglob("*.sql")}
    assert len(analytics) == 10


ALL_TABLES = sorted({**mart_columns(), **analytics_columns()}.items())


@pytest.mark.parametrize(("table", "columns"), ALL_TABLES, ids=[table for table, _ in ALL_TABLES])
def test_every_column_is_documented_in_metrics_md(table, columns):
    sections = metric_sections()
    assert table in sections, f"docs/metrics.md has no section '### `{table}`'"
    missing = [column for column in columns if f"`{column}`" not in sections[table]]
    assert not missing, f"docs/metrics.md, section {table}: columns not documented: {missing}"
