"""Export assets: the marts as files (CSV, JSON, Excel, a PDF report) for each store, every day."""

from .assets import seller_exports

export_assets = [seller_exports]
