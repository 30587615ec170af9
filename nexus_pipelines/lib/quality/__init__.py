"""Data quality: the expectation suites and their validation with Great Expectations."""
