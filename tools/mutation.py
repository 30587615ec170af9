"""Mutation testing (mutmut 3) of lib/analytics, lib/formats and the COPY loader: run it, then report.

What is mutated and which tests run is configured in ``[tool.mutmut]`` of pyproject.toml. mutmut
stores one status per mutant in ``mutants/<file>.meta``; this script prints one line per module
with its counts and score, a subtotal per package and the total.

Score = detected / (detected + survived + no tests + suspicious), where detected = killed +
timeout + segfault (a mutant that makes the tests fail, hang past mutmut's CPU limit, or crash the
test process). "no tests" (a mutant that no selected test reaches) counts against the score;
"skipped" and "not checked" (not run yet, e.g. after a partial run) count on neither side and are
shown in their own columns.

Usage (from the project root; `make mutation` runs ``run``):

    python tools/mutation.py run [--resume] [--children N] [MUTANT_GLOB ...]
    python tools/mutation.py report [--survivors]

``run`` starts from an empty ``mutants/`` (mutmut keeps earlier verdicts of unchanged code even
when the tests changed; ``--resume`` keeps them, to finish an interrupted run), with one test
process at a time unless ``--children`` says otherwise. Mutant globs (e.g.
``'nexus_pipelines.lib.formats.*'``) restrict the run to those mutants. The loader's tests need
PostgreSQL: unless NEXUS_DATABASE_URL is set, one embedded server is started for the whole run
(instead of one per mutant, which tests/conftest.py would otherwise do) and stopped at the end.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"

# mutmut 3.8's exit code -> status (mutmut.stats.status_by_exit_code), grouped for the score
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    2: "interrupted",
    None: "not checked",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "killed",  # caught by the type checker (none configured)
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}
DETECTED = ("killed", "timeout", "segfault")
UNDETECTED = ("survived", "no tests", "suspicious")
COLUMNS = ("killed", "timeout", "segfault", "survived", "no tests", "suspicious", "not checked")


def status_of(exit_code: int | None) -> str:
    return STATUS_BY_EXIT_CODE.get(exit_code, "suspicious")


def mutated(source: str) -> bool:
    """Whether ``[tool.mutmut]`` (only_mutate, do_not_mutate) still mutates this file."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    only = config.get("only_mutate", [])
    if only and not any(fnmatch.fnmatch(source, p) for p in only):
        return False
    return not any(fnmatch.fnmatch(source, p) for p in config.get("do_not_mutate", []))


def load_statuses() -> dict[str, dict[str, str]]:
    """source file (relative, e.g. nexus_pipelines/lib/formats/common.py) -> mutant name -> status."""
    statuses: dict[str, dict[str, str]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        source = meta.relative_to(MUTANTS).as_posix().removesuffix(".meta")
        if not mutated(source):  # left over from a run before the configuration changed
            continue
        statuses[source] = {name: status_of(code) for name, code in data["exit_code_by_key"].items()}
    return statuses


def score(counts: dict[str, int]) -> str:
    detected = sum(counts[s] for s in DETECTED)
    judged = detected + sum(counts[s] for s in UNDETECTED)
    return f"{100 * detected / judged:5.1f}%" if judged else "    -"


def package_of(source: str) -> str:
    """nexus_pipelines/lib/formats/common.py -> lib/formats; the loader is its own package line."""
    parts = Path(source).parts
    return "/".join(parts[1:-1]) if parts[-1] != "loader.py" else "lib/warehouse/loader.py"


def report(show_survivors: bool = False) -> int:
    statuses = load_statuses()
    if not statuses:
        print("no mutmut results in mutants/: run `make mutation` first")
        return 1
    header = f"{'module':<42}" + "".join(f"{c:>12}" for c in COLUMNS) + f"{'detected':>10}{'score':>8}"
    print(header)
    print("-" * len(header))
    totals: dict[str, int] = defaultdict(int)
    packages: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for source, by_name in statuses.items():
        if not by_name:
            continue
        counts: dict[str, int] = defaultdict(int)
        for status in by_name.values():
            counts[status] += 1
        for name, value in counts.items():
            totals[name] += value
            packages[package_of(source)][name] += value
        print(_line(source.removeprefix("nexus_pipelines/"), counts))
    print("-" * len(header))
    for package in sorted(packages):
        print(_line(f"{package} (package)", packages[package]))
    print(_line("total", totals))
    print(
        "score = (killed + timeout + segfault) / (those + survived + no tests + suspicious);"
        " 'not checked' and 'skipped' are left out"
    )
    if show_survivors:
        for source, by_name in statuses.items():
            names = [n for n, s in by_name.items() if s in UNDETECTED]
            if names:
                print(f"\n{source}:")
                for name in names:
                    print(f"    {name}: {by_name[name]}")
    return 0


def _line(label: str, counts: dict[str, int]) -> str:
    detected = sum(counts[s] for s in DETECTED)
    judged = detected + sum(counts[s] for s in UNDETECTED)
    return (
        f"{label:<42}"
        + "".join(f"{counts[c]:>12}" for c in COLUMNS)
        + f"{f'{detected}/{judged}':>10}{score(counts):>8}"
    )


def run(resume: bool, children: int, mutants: list[str]) -> int:
    if not resume and MUTANTS.exists():
        shutil.rmtree(MUTANTS)
    env = dict(os.environ)
    settings = home = None
    if not env.get("NEXUS_DATABASE_URL", "").strip():
        from nexus_pipelines.lib.config import load_settings
        from nexus_pipelines.lib.warehouse import embedded

        # not under /tmp's pytest folders: the embedded server runs as its own user when we are root
        home = Path(tempfile.mkdtemp(prefix="nexus-mutation-"))
        settings = load_settings({"NEXUS_HOME": str(home)})
        env["NEXUS_DATABASE_URL"] = embedded.start(settings).url("postgres")
    mutmut = Path(sys.executable).with_name("mutmut")
    started = time.monotonic()
    try:
        code = subprocess.call(
            [str(mutmut), "run", "--max-children", str(children), *mutants], cwd=ROOT, env=env
        )
    finally:
        if settings is not None:
            embedded.stop(settings)
            shutil.rmtree(home, ignore_errors=True)
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    print(f"\nmutmut run: exit code {code}, {minutes} min {seconds} s\n")
    return report() or code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run mutmut, then print the report")
    run_cmd.add_argument("--resume", action="store_true", help="keep the verdicts already in mutants/")
    run_cmd.add_argument("--children", type=int, default=int(os.environ.get("MUTATION_CHILDREN", "1")))
    run_cmd.add_argument("mutants", nargs="*", help="mutant name globs to run (default: all)")
    report_cmd = commands.add_parser("report", help="print the score per module from mutants/")
    report_cmd.add_argument("--survivors", action="store_true", help="also list the undetected mutants")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.command == "run":
        return run(args.resume, args.children, args.mutants)
    return report(args.survivors)


if __name__ == "__main__":
    sys.exit(main())
