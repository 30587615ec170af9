"""The dbt names sqlfluff's jinja templater lacks, so `make lint` can render the models offline.

sqlfluff loads this package into the template context (``library_path`` in ``.sqlfluff``):
``var()`` answers with the project's own ``vars`` from dbt_project.yml (sqlfluff's stand-in
returns a placeholder string, which the funnel and goal macros cannot iterate), and
``exceptions.raise_compiler_error`` fails the render with the macro's message, ``modules`` holds
``re`` and ``datetime`` as in dbt. ``execute`` is
false, as when dbt parses the project, so no macro queries the warehouse.
"""

import datetime
import re
from pathlib import Path
from types import SimpleNamespace

import yaml

_VARS = yaml.safe_load((Path(__file__).resolve().parents[1] / "dbt_project.yml").read_text()).get("vars") or {}
execute = False
modules = SimpleNamespace(re=re, datetime=datetime)  # dbt's ``modules``


def var(name, default=None):
    return _VARS.get(name, default)


class exceptions:  # noqa: N801 -- dbt's name
    @staticmethod
    def raise_compiler_error(message):
        raise RuntimeError(message)
