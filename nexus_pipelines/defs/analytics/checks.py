"""Asset checks of the analytics tables (exported as ``analytics_checks``)."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from ...lib.warehouse.frames import read_frame
from ..resources import WarehouseResource
from .attribution import ATTRIBUTION_TOUCH_CREDITS
from .clv import CLV_MODEL_PARAMS
from .experiments import EXPERIMENT_RESULTS
from .metadata import preview
from .queries import load_sql

SRM_P_VALUE_THRESHOLD = 0.001


@asset_check(
    asset=EXPERIMENT_RESULTS.key,
    description=f"Warns when an experiment's arm sizes deviate from the planned equal split: "
    f"chi-square sample-ratio-mismatch p-value < {SRM_P_VALUE_THRESHOLD}.",
)
def sample_ratio_mismatch(warehouse: WarehouseResource) -> AssetCheckResult:
    srm = read_frame(warehouse.url, load_sql("check_srm"))
    failing = srm[srm["srm_p_value"] < SRM_P_VALUE_THRESHOLD]
    return AssetCheckResult(
        passed=bool(failing.empty),
        severity=AssetCheckSeverity.WARN,
        metadata={
            "experiments": MetadataValue.int(len(srm)),
            "mismatched": MetadataValue.text(", ".join(failing["experiment_id"]) or "none"),
            "srm": preview(srm) if len(srm) else MetadataValue.md("no experiments"),
        },
    )


@asset_check(
    asset=ATTRIBUTION_TOUCH_CREDITS.key,
    description="Every conversion's credits sum to 1 and its credited revenue to its revenue, in "
    "every attribution model (attribution_touch_credits).",
)
def attribution_credits_balance(warehouse: WarehouseResource) -> AssetCheckResult:
    per_model = read_frame(warehouse.url, load_sql("check_attribution_credits"))
    unbalanced = int(per_model["unbalanced_conversions"].sum()) if len(per_model) else 0
    return AssetCheckResult(
        passed=unbalanced == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "unbalanced_conversions": MetadataValue.int(unbalanced),
            "per_model": preview(per_model) if len(per_model) else MetadataValue.md("no credits"),
        },
    )


@asset_check(
    asset=CLV_MODEL_PARAMS.key,
    description="Warns when the latest BG/NBD / Gamma-Gamma fit does not cover the last order day "
    "(no fit yet, or the last runs could not fit): customer_ltv then scores with older parameters "
    "or none.",
)
def clv_fit_is_current(warehouse: WarehouseResource) -> AssetCheckResult:
    state = read_frame(warehouse.url, load_sql("check_clv_fit")).iloc[0]
    fitted, data = state["fitted_through"], state["data_through"]
    current = data is None or (fitted is not None and fitted >= data)
    return AssetCheckResult(
        passed=bool(current),
        severity=AssetCheckSeverity.WARN,
        metadata={
            "fitted_at": MetadataValue.text(
                str(state["fitted_at"]) if state["fitted_at"] is not None else "never"
            ),
            "fitted_through": MetadataValue.text(str(fitted)),
            "data_through": MetadataValue.text(str(data)),
        },
    )
