"""Exports: the marts as CSV, JSON, Excel and a PDF report per store and period (Dagster-free)."""
