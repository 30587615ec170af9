"""Great Expectations suites as Dagster asset checks, and the Data Docs they feed."""

from .checks import quality_checks
from .sensors import data_docs_after_failure, data_docs_after_success

__all__ = ["data_docs_after_failure", "data_docs_after_success", "quality_checks"]
