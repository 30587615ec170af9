"""Independent, named random streams derived from one seed.

Every part of the generator draws from its own stream, keyed by the seed and a few names
(``stream(seed, "amazon", "store-us")``), so that the output is reproducible byte for byte and
adding a draw in one part does not shift the numbers of another.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *names: str | int) -> np.random.Generator:
    """A generator seeded by ``seed`` and the given names (strings are hashed with CRC-32)."""
    keys = [seed] + [zlib.crc32(n.encode()) if isinstance(n, str) else int(n) for n in names]
    return np.random.default_rng(np.random.SeedSequence(keys))


def uuid_strings(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random version-4 UUID strings drawn from ``rng``."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    out = []
    for i in range(n):
        h = text[32 * i : 32 * i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def alphanumeric_codes(rng: np.random.Generator, n: int, length: int) -> list[str]:
    """``n`` random upper-case alphanumeric codes of ``length`` characters."""
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    picks = alphabet[rng.integers(0, len(alphabet), size=(n, length))]
    return ["".join(row) for row in picks]
