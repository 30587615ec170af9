"""channel_attribution: multi-touch attribution of web orders to session channels.

Three assets, one per table, computed together (see docs/analytics.md):

* analytics.attribution_touch_credits -- one row per conversion x touch x model;
* analytics.channel_attribution_daily -- per conversion day x channel x model, with spend and ROAS;
* analytics.markov_removal_effects -- one row per channel: Markov removal effect and credits.
"""

import datetime as dt
from typing import Iterator

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, multi_asset

from ...lib.analytics.attribution import (
    HEURISTIC_MODELS,
    markov_removal_effects,
    path_counts,
    touch_credits,
    weighted_touch_credits,
)
from ...lib.analytics.charts import grouped_bar_png
from ...lib.warehouse.frames import read_frame, replace_table
from ..resources import WarehouseResource
from .metadata import chart, preview, table_metadata
from .queries import load_sql
from .tables import Table, analytics_schema, model

DIRECT = "Direct"
PATH_SEPARATOR = " > "
MODELS = (*HEURISTIC_MODELS, "markov", "shapley")
CREDIT_TOLERANCE = 1e-9

# The channel groups of fct_sessions (dbt macro channel_group).
CHANNEL_GROUPS = (
    "Direct", "Organic Search", "Paid Search", "Organic Social", "Paid Social",
    "Email", "Referral", "Affiliates", "Display", "Other",
)
# Spend-file channel names (lower case, trimmed) -> channel group. A channel group's own name
# always maps to itself; these are the usual ad-platform names besides. Anything else goes to
# "Other" and is listed in the asset metadata (unmapped_spend_channels).
SPEND_CHANNEL_ALIASES = {
    "google ads": "Paid Search", "adwords": "Paid Search", "bing ads": "Paid Search",
    "microsoft ads": "Paid Search", "sem": "Paid Search", "ppc": "Paid Search",
    "cpc": "Paid Search", "search": "Paid Search", "paid_search": "Paid Search",
    "facebook": "Paid Social", "facebook ads": "Paid Social", "meta": "Paid Social",
    "meta ads": "Paid Social", "instagram ads": "Paid Social", "tiktok ads": "Paid Social",
    "linkedin ads": "Paid Social", "pinterest ads": "Paid Social", "paid_social": "Paid Social",
    "social ads": "Paid Social",
    "newsletter": "Email", "e-mail": "Email", "klaviyo": "Email", "mailchimp": "Email",
    "affiliate": "Affiliates", "affiliate network": "Affiliates",
    "banner": "Display", "gdn": "Display", "programmatic": "Display", "dv360": "Display",
}
SPEND_CHANNEL_GROUPS = {**SPEND_CHANNEL_ALIASES, **{g.lower(): g for g in CHANNEL_GROUPS}}

CREDIT_TYPES = {
    "conversion_id": "text", "conversion_date": "date", "conversion_time": "timestamptz",
    "touch_index": "integer", "channel": "text", "touch_time": "timestamptz", "model": "text",
    "revenue": "double precision", "credit": "double precision",
    "credited_revenue": "double precision",
}
DAILY_TYPES = {
    "day": "date", "channel": "text", "model": "text", "conversions": "double precision",
    "revenue": "double precision", "spend": "double precision", "roas": "double precision",
}
EFFECT_TYPES = {
    "channel": "text", "removal_effect": "double precision", "removal_share": "double precision",
    "converting_journeys": "bigint", "null_journeys": "bigint",
    "credited_conversions": "double precision", "credited_revenue": "double precision",
    "lookback_days": "integer", "computed_at": "timestamptz",
}


ATTRIBUTION_TOUCH_CREDITS = Table(
    "attribution_touch_credits", CREDIT_TYPES, "One row per conversion x touch x attribution model: credit and credited revenue.")
CHANNEL_ATTRIBUTION_DAILY = Table(
    "channel_attribution_daily", DAILY_TYPES,
    "Per conversion day x channel x model: credited conversions and revenue, spend and ROAS.")
MARKOV_REMOVAL_EFFECTS = Table(
    "markov_removal_effects", EFFECT_TYPES,
    "One row per channel: Markov removal effect, its share, journeys touching it and Markov credits.")


class AttributionConfig(Config):
    lookback_days: int = 30  # sessions up to this many days before an order are its touches
    half_life_days: float = 7.0  # time_decay: a touch this many days older weighs half as much


def spend_channel_group(name: str) -> str:
    """The channel group a spend file's channel name stands for ("Other" when unknown)."""
    return SPEND_CHANNEL_GROUPS.get(str(name).strip().lower(), "Other")


def path_table(touches: pd.DataFrame, null_paths: pd.DataFrame) -> pd.DataFrame:
    """Converting paths (from the touch rows) plus the non-converting paths from SQL."""
    converting = path_counts(touches)
    lost = pd.DataFrame(
        {
            "path": [tuple(p.split(PATH_SEPARATOR)) for p in null_paths["path"]],
            "conversions": 0,
            "nulls": null_paths["nulls"].astype(float).to_numpy(),
            "value": 0.0,
        }
    )
    return pd.concat([converting, lost], ignore_index=True)


def all_credits(touches: pd.DataFrame, effects: dict[str, float], half_life_days: float) -> pd.DataFrame:
    """Credits of every touch under every model, stacked (column ``model``)."""
    frames = [
        touch_credits(touches, model, half_life_days=half_life_days, direct_label=DIRECT)
        for model in HEURISTIC_MODELS
    ]
    frames.append(weighted_touch_credits(touches, effects))
    frames.append(weighted_touch_credits(touches, None))
    for model, frame in zip(MODELS, frames):
        frame["model"] = model
    return pd.concat(frames, ignore_index=True)


def check_credits(credits: pd.DataFrame) -> None:
    """Every conversion's credits sum to 1 and its credited revenue to its revenue, per model."""
    sums = credits.groupby(["model", "conversion_id"]).agg(
        credit=("credit", "sum"), credited=("credited_revenue", "sum"), revenue=("revenue", "first")
    )
    bad_credit = (sums["credit"] - 1.0).abs() > CREDIT_TOLERANCE
    bad_revenue = (sums["credited"] - sums["revenue"]).abs() > CREDIT_TOLERANCE * sums["revenue"].abs().clip(lower=1.0)
    if bad_credit.any() or bad_revenue.any():
        sample = sums[bad_credit | bad_revenue].head(5)
        raise ValueError(f"attribution credits do not sum to 1 / to the revenue:\n{sample}")


def daily_table(credits: pd.DataFrame, spend: pd.DataFrame) -> pd.DataFrame:
    """Per conversion day x channel x model: credited conversions and revenue, spend and ROAS.

    Spend (per day and channel group) is repeated on every model's row; days and channels with
    spend but no credited conversion get conversions = revenue = 0.
    """
    credited = (
        credits.groupby(["conversion_date", "channel", "model"], as_index=False)
        .agg(conversions=("credit", "sum"), revenue=("credited_revenue", "sum"))
        .rename(columns={"conversion_date": "day"})
    )
    spend_by_channel = (
        spend.assign(channel=spend["spend_channel"].map(spend_channel_group))
        .groupby(["day", "channel"], as_index=False)["spend"].sum()
    )
    spend_rows = spend_by_channel.merge(pd.DataFrame({"model": MODELS}), how="cross")
    keys = ["day", "channel", "model"]
    credited[keys] = credited[keys].astype(object)  # empty frames must not disagree on key dtypes
    spend_rows[keys] = spend_rows[keys].astype(object)
    daily = credited.merge(spend_rows, on=keys, how="outer")
    daily["spend"] = daily["spend"].astype(float)
    daily[["conversions", "revenue"]] = daily[["conversions", "revenue"]].fillna(0.0)
    daily["roas"] = np.where(daily["spend"] > 0, daily["revenue"] / daily["spend"].where(daily["spend"] > 0), np.nan)
    return daily.sort_values(["day", "channel", "model"], ignore_index=True)[list(DAILY_TYPES)]


def effects_table(
    effects: dict[str, float], credits: pd.DataFrame, touches: pd.DataFrame,
    null_paths: pd.DataFrame, lookback_days: int, computed_at: dt.datetime,
) -> pd.DataFrame:
    """One row per channel: removal effect, its share, journeys touching it and Markov credits."""
    channels = sorted(set(effects) | set(touches["channel"]))
    total_effect = sum(effects.values())
    markov = credits[credits["model"] == "markov"].groupby("channel")[["credit", "credited_revenue"]].sum()
    converting = touches.groupby("channel")["conversion_id"].nunique()
    null_journeys = {c: 0 for c in channels}
    for path, nulls in zip(null_paths["path"], null_paths["nulls"]):
        for channel in set(path.split(PATH_SEPARATOR)):
            null_journeys[channel] = null_journeys.get(channel, 0) + int(nulls)
    return pd.DataFrame(
        {
            "channel": channels,
            "removal_effect": [effects.get(c, 0.0) for c in channels],
            "removal_share": [effects.get(c, 0.0) / total_effect if total_effect > 0 else 0.0 for c in channels],
            "converting_journeys": [int(converting.get(c, 0)) for c in channels],
            "null_journeys": [null_journeys.get(c, 0) for c in channels],
            "credited_conversions": [float(markov["credit"].get(c, 0.0)) for c in channels],
            "credited_revenue": [float(markov["credited_revenue"].get(c, 0.0)) for c in channels],
            "lookback_days": lookback_days,
            "computed_at": computed_at,
        }
    )


def _revenue_chart(credits: pd.DataFrame) -> MetadataValue:
    by_model = credits.pivot_table(index="channel", columns="model", values="credited_revenue", aggfunc="sum", fill_value=0.0)
    by_model = by_model.reindex(columns=["markov", "last_touch"], fill_value=0.0).sort_values("markov", ascending=False)
    png = grouped_bar_png(
        list(by_model.index),
        {"Markov": by_model["markov"].round(2).tolist(), "Last touch": by_model["last_touch"].round(2).tolist()},
        "Revenue credited per channel: Markov vs last touch",
        ylabel="revenue",
    )
    return chart(png, "revenue credited per channel, Markov vs last touch")


@multi_asset(
    specs=[table.spec([model("fct_orders_web"), model("fct_sessions"), model("stg_marketing__spend")])
           for table in (ATTRIBUTION_TOUCH_CREDITS, CHANNEL_ATTRIBUTION_DAILY, MARKOV_REMOVAL_EFFECTS)],
    name="channel_attribution",
    description="Multi-touch attribution of web orders to session channels (first/last touch, last "
    "non-direct, linear, time decay, position based, Markov removal effect, Shapley), with spend and ROAS.",
)
def channel_attribution(
    context: AssetExecutionContext, config: AttributionConfig, warehouse: WarehouseResource
) -> Iterator[MaterializeResult]:
    if config.lookback_days < 1 or config.half_life_days <= 0:
        raise ValueError("lookback_days must be >= 1 and half_life_days > 0")
    params = {"lookback_days": config.lookback_days}
    touches = read_frame(warehouse.url, load_sql("attribution_touches"), params)
    null_paths = read_frame(warehouse.url, load_sql("attribution_null_paths"), params)
    spend = read_frame(warehouse.url, load_sql("marketing_spend"))
    computed_at = dt.datetime.now(dt.timezone.utc)

    if touches.empty:
        credits = pd.DataFrame({c: pd.Series(dtype=object) for c in CREDIT_TYPES})
        effects: dict[str, float] = {}
    else:
        effects = markov_removal_effects(path_table(touches, null_paths))
        credits = all_credits(touches, effects, config.half_life_days)
        check_credits(credits)
    credits = credits[list(CREDIT_TYPES)]
    daily = daily_table(credits, spend)
    effect_rows = effects_table(effects, credits, touches, null_paths, config.lookback_days, computed_at)

    url, schema = warehouse.url, analytics_schema()
    credit_rows = replace_table(url, schema, ATTRIBUTION_TOUCH_CREDITS.name, credits, CREDIT_TYPES)
    daily_rows = replace_table(url, schema, CHANNEL_ATTRIBUTION_DAILY.name, daily, DAILY_TYPES)
    effect_count = replace_table(url, schema, MARKOV_REMOVAL_EFFECTS.name, effect_rows, EFFECT_TYPES)

    unmapped = sorted({n for n in spend["spend_channel"] if str(n).strip().lower() not in SPEND_CHANNEL_GROUPS})
    if unmapped:
        context.log.warning(f"spend channels mapped to 'Other': {unmapped}")
    conversions = touches["conversion_id"].nunique() if len(touches) else 0
    yield MaterializeResult(
        asset_key=ATTRIBUTION_TOUCH_CREDITS.key,
        metadata={
            **table_metadata(credits, credit_rows, "conversion_date"),
            "conversions": MetadataValue.int(int(conversions)),
            "attributed_revenue": MetadataValue.float(float(touches.groupby("conversion_id")["revenue"].first().sum()) if len(touches) else 0.0),
            "lookback_days": MetadataValue.int(config.lookback_days),
        },
    )
    yield MaterializeResult(
        asset_key=CHANNEL_ATTRIBUTION_DAILY.key,
        metadata={
            **table_metadata(daily, daily_rows, "day"),
            "unmapped_spend_channels": MetadataValue.text(", ".join(unmapped) or "none"),
            "revenue_by_channel": _revenue_chart(credits) if len(credits) else MetadataValue.md("no conversions"),
        },
    )
    yield MaterializeResult(
        asset_key=MARKOV_REMOVAL_EFFECTS.key,
        metadata={
            "row_count": MetadataValue.int(effect_count),
            "non_converting_journeys": MetadataValue.int(int(null_paths["nulls"].sum()) if len(null_paths) else 0),
            "removal_effects": preview(effect_rows.drop(columns=["computed_at", "lookback_days"])),
        },
    )
