"""The SQL files next to the analytics assets (``sql/<name>.sql``), read once and cached.

Queries take bound parameters only (psycopg ``%(name)s`` placeholders), never formatted values.
"""

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"


@cache
def load_sql(name: str) -> str:
    """Text of ``sql/<name>.sql``."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text(encoding="utf-8")
