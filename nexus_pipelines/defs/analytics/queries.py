"""The SQL files next to the analytics assets (``sql/<name>.sql``), read once and cached.

Relations are written ``{model_or_table}`` and resolved by ``tables.relation`` (dbt manifest for
models, the configured analytics schema for the Python tables); values are bound parameters only
(psycopg ``%(name)s`` placeholders), never formatted in.
"""

from functools import cache
from pathlib import Path

from psycopg import sql

from .tables import render

SQL_DIR = Path(__file__).parent / "sql"


@cache
def load_sql(name: str) -> sql.Composed:
    """``sql/<name>.sql`` with its relations resolved."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return render(path.read_text(encoding="utf-8"))
