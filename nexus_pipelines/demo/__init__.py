"""A development tool, not part of the pipeline: deterministic demo and benchmark data.

Nothing in ``lib/`` or ``defs/`` imports it; `nexus generate`, `nexus demo`, the tests and the
benchmarks do. It writes a landing folder as a seller would drop it in:

``generate(out, seed=42, days=180, ...)`` writes Amazon reports (orders, sales and traffic,
inventory, returns) for one or more stores, Segment-spec web-store events, daily marketing spend
and ``stores.yaml`` in the layout of the landing contract, plus ``truth.json``: the parameters
that were planted (seasonality, stockouts, return rates, BG/NBD and Gamma-Gamma customer
behaviour, channel conversion, an A/B test) and the counts of files, lines and damaged lines.
"""

from .generator import SynthConfig, generate, write_dataset

__all__ = ["SynthConfig", "generate", "write_dataset"]
