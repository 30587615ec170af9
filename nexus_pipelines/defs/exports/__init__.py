"""Export assets: the marts as files (CSV, JSON, Excel, a PDF report) for each store, every day."""

from .assets import seller_exports
from .jobs import export_job, exports_after_refresh

export_assets = [seller_exports]

__all__ = ["export_assets", "export_job", "exports_after_refresh", "seller_exports"]
