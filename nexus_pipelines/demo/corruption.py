"""Malformed lines for testing quarantine: each data line is replaced with probability ``share``.

Flat-file lines keep their column count but get an unparseable or missing required field;
event lines are cut in half (invalid JSON) or lose their messageId.
"""

from __future__ import annotations

import json

import numpy as np

# per file kind: (column, replacement) pairs; one is picked per damaged line
FLAT_FILE_DAMAGE = {
    "orders": (
        ("quantity", "two"),
        ("purchase-date", "2026-02-30T25:61:00+00:00"),
        ("amazon-order-id", ""),
    ),
    "inventory": (("afn-fulfillable-quantity", "n/a"), ("sku", "")),
    "returns": (("return-date", "31/02/2026"), ("quantity", "one"), ("order-id", "")),
}


def damage_rows(
    rng: np.random.Generator,
    kind: str,
    header: tuple[str, ...],
    rows: list[list[str]],
    share: float,
) -> int:
    """Damage about ``share`` of ``rows`` in place; returns how many were damaged."""
    if share <= 0 or not rows:
        return 0
    hit = np.flatnonzero(rng.random(len(rows)) < share)
    options = FLAT_FILE_DAMAGE[kind]
    choice = rng.integers(0, len(options), size=len(hit))
    for i, c in zip(hit, choice):
        column, value = options[c]
        rows[i][header.index(column)] = value
    return len(hit)


def damage_event_lines(rng: np.random.Generator, lines: list[str], spared: np.ndarray, share: float) -> int:
    """Damage about ``share`` of the event lines not ``spared``, in place; returns the count."""
    if share <= 0 or not lines:
        return 0
    hit = np.flatnonzero(~spared & (rng.random(len(lines)) < share))
    truncate = rng.random(len(hit)) < 0.5
    for i, cut in zip(hit, truncate):
        if cut:
            lines[i] = lines[i][: len(lines[i]) // 2]
        else:
            event = json.loads(lines[i])
            del event["messageId"]
            lines[i] = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return len(hit)
