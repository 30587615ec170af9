"""Python analytics assets: SQL aggregates in, statistics in lib/analytics, COPY out."""

from .store_summary import store_daily_summary

analytics_assets = [store_daily_summary]
