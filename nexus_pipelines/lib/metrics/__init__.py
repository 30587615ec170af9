"""The metrics engine: the figures of the marts and analytics tables for a store and any date range,
as JSON-ready values, over read-only connections (Dagster-free and FastAPI-free).

``MetricsEngine`` is the entry point; ``CATALOG`` lists every metric it serves.
"""

from .catalog import CATALOG, Metric
from .engine import MetricsEngine
from .models import (
    AnalyticsError,
    AnalyticsRequest,
    AnalyticsResponse,
    DataValidationError,
    MetricCalculationError,
    UnknownMetric,
    UnknownStore,
)

__all__ = [
    "CATALOG",
    "AnalyticsError",
    "AnalyticsRequest",
    "AnalyticsResponse",
    "DataValidationError",
    "Metric",
    "MetricCalculationError",
    "MetricsEngine",
    "UnknownMetric",
    "UnknownStore",
]
