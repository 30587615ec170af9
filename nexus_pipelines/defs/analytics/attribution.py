"""channel_attribution: multi-touch attribution of web orders to session channels.

Three assets, one per table, computed together (see docs/analytics.md):

* analytics.attribution_touch_credits -- one row per conversion x touch x model;
* analytics.channel_attribution_daily -- per conversion day x channel x model, with spend and ROAS;
* analytics.markov_removal_effects -- one row per channel: Markov removal effect and credits.

A daily run costs what changed, and gives the tables a full recompute would:

* Every heuristic model and the per-conversion Shapley split depend on a conversion's own
  touches only, so only conversions whose touches changed (new orders, re-stated orders, sessions
  re-built or re-stitched) are credited again; the touches of every conversion are compared with
  the stored ones in SQL.
* The Markov fit is a fit *of a period*: it uses the conversions and non-converting journeys
  dated before the first day of the current period (``refit_every``: day, week or month, of the
  latest conversion date), so it moves when a new period starts or when data of earlier periods
  changes (the fit's input path table is hashed), not with every new day; conversions are scored
  with the fit in force. When the fit or ``half_life_days`` changes, every conversion is credited
  again.
* Credits are computed and written in chunks of conversions (``CHUNK_TOUCHES`` touches), one
  model at a time, so memory does not grow with the history; the daily table is aggregated in
  SQL with exact (numeric) sums, so its figures do not depend on the order rows were written in.
"""

import datetime as dt
import hashlib
from collections.abc import Iterator

import pandas as pd
import psycopg
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, multi_asset
from psycopg import sql

from ...lib.analytics.attribution import (
    HEURISTIC_MODELS,
    markov_removal_effects,
    touch_credits,
    weighted_touch_credits,
)
from ...lib.analytics.charts import grouped_bar_png
from ...lib.warehouse.connection import one_row, scalar
from ...lib.warehouse.frames import copy_frame, ensure_table
from ...lib.windows import PERIODS, period_start
from ..resources import WarehouseResource
from .metadata import chart, preview
from .queries import load_sql
from .tables import Table, analytics_schema, model

DIRECT = "Direct"
PATH_SEPARATOR = " > "
MODELS = (*HEURISTIC_MODELS, "markov", "shapley")
CREDIT_TOLERANCE = 1e-9
CHUNK_TOUCHES = 100_000  # touch rows read, credited (one model at a time) and written at a time

# The channel groups of fct_sessions (dbt macro channel_group).
CHANNEL_GROUPS = (
    "Direct",
    "Organic Search",
    "Paid Search",
    "Organic Social",
    "Paid Social",
    "Email",
    "Referral",
    "Affiliates",
    "Display",
    "Other",
)
# Spend-file channel names (lower case, trimmed) -> channel group. A channel group's own name
# always maps to itself; these are the usual ad-platform names besides. Anything else goes to
# "Other" and is listed in the asset metadata (unmapped_spend_channels).
SPEND_CHANNEL_ALIASES = {
    "google ads": "Paid Search",
    "adwords": "Paid Search",
    "bing ads": "Paid Search",
    "microsoft ads": "Paid Search",
    "sem": "Paid Search",
    "ppc": "Paid Search",
    "cpc": "Paid Search",
    "search": "Paid Search",
    "paid_search": "Paid Search",
    "facebook": "Paid Social",
    "facebook ads": "Paid Social",
    "meta": "Paid Social",
    "meta ads": "Paid Social",
    "instagram ads": "Paid Social",
    "tiktok ads": "Paid Social",
    "linkedin ads": "Paid Social",
    "pinterest ads": "Paid Social",
    "paid_social": "Paid Social",
    "social ads": "Paid Social",
    "newsletter": "Email",
    "e-mail": "Email",
    "klaviyo": "Email",
    "mailchimp": "Email",
    "affiliate": "Affiliates",
    "affiliate network": "Affiliates",
    "banner": "Display",
    "gdn": "Display",
    "programmatic": "Display",
    "dv360": "Display",
}
SPEND_CHANNEL_GROUPS = {**SPEND_CHANNEL_ALIASES, **{g.lower(): g for g in CHANNEL_GROUPS}}

CREDIT_TYPES = {
    "conversion_id": "text",
    "conversion_date": "date",
    "conversion_time": "timestamptz",
    "touch_index": "integer",
    "channel": "text",
    "touch_time": "timestamptz",
    "model": "text",
    "revenue": "double precision",
    "credit": "double precision",
    "credited_revenue": "double precision",
}
DAILY_TYPES = {
    "day": "date",
    "channel": "text",
    "model": "text",
    "conversions": "double precision",
    "revenue": "double precision",
    "spend": "double precision",
    "roas": "double precision",
}
EFFECT_TYPES = {
    "channel": "text",
    "removal_effect": "double precision",
    "removal_share": "double precision",
    "converting_journeys": "bigint",
    "null_journeys": "bigint",
    "credited_conversions": "double precision",
    "credited_revenue": "double precision",
    "lookback_days": "integer",
    "computed_at": "timestamptz",
    # the fit these effects come from: data dated before fitted_before; its input's hash; and the
    # time-decay half-life the stored credits were computed with
    "fitted_before": "date",
    "fit_input_hash": "text",
    "half_life_days": "double precision",
}


ATTRIBUTION_TOUCH_CREDITS = Table(
    "attribution_touch_credits",
    CREDIT_TYPES,
    "One row per conversion x touch x attribution model: credit and credited revenue.",
    indexes=(("conversion_id",), ("conversion_date", "channel")),
)
CHANNEL_ATTRIBUTION_DAILY = Table(
    "channel_attribution_daily",
    DAILY_TYPES,
    "Per conversion day x channel x model: credited conversions and revenue, spend and ROAS.",
    indexes=(("day", "channel"),),
)
MARKOV_REMOVAL_EFFECTS = Table(
    "markov_removal_effects",
    EFFECT_TYPES,
    "One row per channel: Markov removal effect, its share, journeys touching it and Markov credits.",
    indexes=(("channel",),),
)


class AttributionConfig(Config):
    lookback_days: int = 30  # sessions up to this many days before an order are its touches
    half_life_days: float = 7.0  # time_decay: a touch this many days older weighs half as much
    # the Markov fit uses the data before the current day / week / month of the latest conversion
    refit_every: str = "week"
    # credit every conversion again, not only those whose touches changed
    full_recompute: bool = False


def spend_channel_group(name: str) -> str:
    """The channel group a spend file's channel name stands for ("Other" when unknown)."""
    return SPEND_CHANNEL_GROUPS.get(str(name).strip().lower(), "Other")


def model_credits(
    touches: pd.DataFrame, effects: dict[str, float], half_life_days: float
) -> Iterator[pd.DataFrame]:
    """Credits of every touch, one model at a time (column ``model``): one frame in memory at once."""
    for name in MODELS:
        if name == "markov":
            frame = weighted_touch_credits(touches, effects)
        elif name == "shapley":
            frame = weighted_touch_credits(touches, None)
        else:
            frame = touch_credits(touches, name, half_life_days=half_life_days, direct_label=DIRECT)
        frame["model"] = name
        yield frame


def check_credits(credits: pd.DataFrame) -> None:
    """Every conversion's credits sum to 1 and its credited revenue to its revenue, per model."""
    sums = credits.groupby(["model", "conversion_id"]).agg(
        credit=("credit", "sum"), credited=("credited_revenue", "sum"), revenue=("revenue", "first")
    )
    bad_credit = (sums["credit"] - 1.0).abs() > CREDIT_TOLERANCE
    bad_revenue = (sums["credited"] - sums["revenue"]).abs() > CREDIT_TOLERANCE * sums["revenue"].abs().clip(
        lower=1.0
    )
    if bad_credit.any() or bad_revenue.any():
        sample = sums[bad_credit | bad_revenue].head(5)
        raise ValueError(f"attribution credits do not sum to 1 / to the revenue:\n{sample}")


def _fit_paths(conn: psycopg.Connection, fit_before: dt.date, lookback_days: int) -> pd.DataFrame:
    """The Markov fit's input: converting and non-converting paths of the data before ``fit_before``."""
    converting = conn.execute(
        """select path, count(*)::bigint as conversions from (
               select string_agg(channel, %(sep)s order by touch_index) as path
               from cur_touches where conversion_date < %(fit_before)s group by conversion_id
           ) as p group by path order by path collate "C" """,
        {"sep": PATH_SEPARATOR, "fit_before": fit_before},
    ).fetchall()
    lost = conn.execute(
        load_sql("attribution_null_paths"), {"lookback_days": lookback_days, "fit_before": fit_before}
    ).fetchall()
    return pd.DataFrame(
        [(tuple(path.split(PATH_SEPARATOR)), float(n), 0.0, 0.0) for path, n in converting]
        + [(tuple(path.split(PATH_SEPARATOR)), 0.0, float(n), 0.0) for path, n in lost],
        columns=["path", "conversions", "nulls", "value"],
    )


def _input_hash(paths: pd.DataFrame, fit_before: dt.date, lookback_days: int) -> str:
    digest = hashlib.sha256(f"{fit_before}|{lookback_days}".encode())
    for path, conversions, nulls in zip(paths["path"], paths["conversions"], paths["nulls"]):
        digest.update(f"|{PATH_SEPARATOR.join(path)}:{conversions:.0f}:{nulls:.0f}".encode())
    return digest.hexdigest()


def _stored_fit(conn: psycopg.Connection, schema: str) -> tuple[str | None, float | None, dict, object]:
    """(input hash, half-life, effects by channel, computed_at) of the stored fit, or Nones."""
    columns = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema, MARKOV_REMOVAL_EFFECTS.name),
        ).fetchall()
    }
    if not {"fit_input_hash", "half_life_days"} <= columns:
        return None, None, {}, None
    rows = conn.execute(
        sql.SQL(
            "select channel, removal_effect, fit_input_hash, half_life_days, computed_at from {} order by channel"
        ).format(sql.Identifier(schema, MARKOV_REMOVAL_EFFECTS.name))
    ).fetchall()
    if not rows:
        return None, None, {}, None
    return rows[0][2], rows[0][3], {r[0]: r[1] for r in rows}, rows[0][4]


_TOUCH_KEY = "conversion_id, conversion_date, conversion_time, revenue, touch_index, channel, touch_time"

_CHANGED_CONVERSIONS = f"""
create temp table changed_conversions on commit drop as
select distinct conversion_id from (
    (select {_TOUCH_KEY} from cur_touches except select {_TOUCH_KEY} from {{credits}} where model = 'linear')
    union all
    (select {_TOUCH_KEY} from {{credits}} where model = 'linear' except select {_TOUCH_KEY} from cur_touches)
) as d
"""

_DAILY = """
insert into {daily} (day, channel, model, conversions, revenue, spend, roas)
with credited as (
    select conversion_date as day, channel, model,
           sum(credit::numeric)::float8 as conversions, sum(credited_revenue::numeric)::float8 as revenue
    from {credits} group by 1, 2, 3
),
mapping as (
    select * from unnest(%(names)s::text[], %(groups)s::text[]) as m(name, channel_group)
),
spend as (
    select s.spend_date as day, coalesce(m.channel_group, 'Other') as channel, sum(s.spend::numeric)::float8 as spend
    from ({spend}) as s left join mapping as m on m.name = lower(btrim(s.channel))
    group by 1, 2
),
spend_rows as (
    select s.day, s.channel, m.model, s.spend from spend as s cross join unnest(%(models)s::text[]) as m(model)
)
select coalesce(c.day, s.day), coalesce(c.channel, s.channel), coalesce(c.model, s.model),
       coalesce(c.conversions, 0), coalesce(c.revenue, 0), s.spend,
       case when s.spend > 0 then coalesce(c.revenue, 0) / s.spend end
from credited as c full join spend_rows as s on s.day = c.day and s.channel = c.channel and s.model = c.model
order by 1, 2, 3
"""


def _credit_chunks(conn: psycopg.Connection, where: sql.Composable) -> Iterator[pd.DataFrame]:
    """The touch rows matching ``where``, in frames of whole conversions of about CHUNK_TOUCHES rows."""
    columns = [
        "conversion_id",
        "user_key",
        "conversion_date",
        "conversion_time",
        "revenue",
        "touch_index",
        "channel",
        "touch_time",
        "session_id",
    ]
    carry: list[tuple] = []
    with conn.cursor(name="attribution_touches") as cursor:
        cursor.execute(
            sql.SQL("select {} from cur_touches where ").format(
                sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            + where
            + sql.SQL(" order by conversion_id, touch_index")
        )
        while rows := cursor.fetchmany(CHUNK_TOUCHES):
            rows = carry + rows
            last = rows[-1][0]
            cut = len(rows)
            while cut > 0 and rows[cut - 1][0] == last:  # keep the last conversion whole
                cut -= 1
            if cut == 0:
                carry = rows
                continue
            carry = rows[cut:]
            yield pd.DataFrame(rows[:cut], columns=columns)
    if carry:
        yield pd.DataFrame(carry, columns=columns)


@multi_asset(
    specs=[
        table.spec([model("fct_orders_web"), model("fct_sessions"), model("stg_marketing__spend")])
        for table in (ATTRIBUTION_TOUCH_CREDITS, CHANNEL_ATTRIBUTION_DAILY, MARKOV_REMOVAL_EFFECTS)
    ],
    name="channel_attribution",
    description="Multi-touch attribution of web orders to session channels (first/last touch, last "
    "non-direct, linear, time decay, position based, Markov removal effect, Shapley), with spend and ROAS. "
    "Daily runs credit only the conversions whose touches changed; the Markov fit moves once a period.",
)
def channel_attribution(
    context: AssetExecutionContext, config: AttributionConfig, warehouse: WarehouseResource
) -> Iterator[MaterializeResult]:
    if config.lookback_days < 1 or config.half_life_days <= 0:
        raise ValueError("lookback_days must be >= 1 and half_life_days > 0")
    if config.refit_every not in PERIODS:
        raise ValueError(f"refit_every must be one of {', '.join(PERIODS)}, got {config.refit_every!r}")
    schema = analytics_schema()
    credits_t, daily_t, effects_t = (
        sql.Identifier(schema, t.name)
        for t in (ATTRIBUTION_TOUCH_CREDITS, CHANNEL_ATTRIBUTION_DAILY, MARKOV_REMOVAL_EFFECTS)
    )
    params = {"lookback_days": config.lookback_days}
    with psycopg.connect(warehouse.url) as conn, conn.transaction():
        conn.execute(
            sql.SQL("create temp table cur_touches on commit drop as ") + load_sql("attribution_touches"),
            params,
        )
        conn.execute("create index on cur_touches (conversion_id, touch_index)")
        conn.execute("analyze cur_touches")
        first, last = one_row(conn, "select min(conversion_date), max(conversion_date) from cur_touches")

        # the fit in force: data before the current period (all data while there is no earlier period)
        fit_before = period_start(last, config.refit_every) if last else dt.date(1900, 1, 1)
        if first is not None and first >= fit_before:
            fit_before = last + dt.timedelta(days=1)
        paths = _fit_paths(conn, fit_before, config.lookback_days)
        input_hash = _input_hash(paths, fit_before, config.lookback_days)
        stored_hash, stored_half_life, stored_effects, stored_at = _stored_fit(conn, schema)
        refit = stored_hash != input_hash
        effects = markov_removal_effects(paths) if refit else stored_effects
        computed_at = dt.datetime.now(dt.UTC) if refit else stored_at

        for table in (ATTRIBUTION_TOUCH_CREDITS, CHANNEL_ATTRIBUTION_DAILY, MARKOV_REMOVAL_EFFECTS):
            ensure_table(conn, schema, table.name, table.columns, table.indexes)
        everything = refit or config.full_recompute or stored_half_life != config.half_life_days
        if everything:
            conn.execute(sql.SQL("truncate {}").format(credits_t))
            which = sql.SQL("true")
            changed = scalar(conn, "select count(distinct conversion_id) from cur_touches")
        else:
            conn.execute(sql.SQL(_CHANGED_CONVERSIONS).format(credits=credits_t))
            changed = scalar(conn, "select count(*) from changed_conversions")
            conn.execute(
                sql.SQL(
                    "delete from {} where conversion_id in (select conversion_id from changed_conversions)"
                ).format(credits_t)
            )
            which = sql.SQL("conversion_id in (select conversion_id from changed_conversions)")
        written = 0
        for touches in _credit_chunks(conn, which):
            for credits in model_credits(touches, effects, config.half_life_days):
                check_credits(credits)
                written += copy_frame(conn, credits_t, credits[list(CREDIT_TYPES)])

        conn.execute(sql.SQL("truncate {}").format(daily_t))
        conn.execute(
            sql.SQL(_DAILY).format(daily=daily_t, credits=credits_t, spend=load_sql("marketing_spend_rows")),
            {
                "names": list(SPEND_CHANNEL_GROUPS),
                "groups": list(SPEND_CHANNEL_GROUPS.values()),
                "models": list(MODELS),
            },
        )
        effect_rows = _effects_rows(
            conn, credits_t, effects, paths, config, fit_before, input_hash, computed_at
        )
        conn.execute(sql.SQL("truncate {}").format(effects_t))
        copy_frame(conn, effects_t, effect_rows)
        for ident in (credits_t, daily_t, effects_t):
            conn.execute(sql.SQL("analyze {}").format(ident))

        credit_count = scalar(conn, sql.SQL("select count(*) from {}").format(credits_t))
        daily = pd.DataFrame(
            conn.execute(sql.SQL("select * from {} order by day, channel, model").format(daily_t)).fetchall(),
            columns=list(DAILY_TYPES),
        )
        revenue = one_row(
            conn,
            "select coalesce(sum(revenue), 0)::float8, count(*) from (select distinct "
            "conversion_id, revenue from cur_touches) as c",
        )
        unmapped = [
            r[0]
            for r in conn.execute(
                sql.SQL(
                    "select distinct channel from ({}) as s where not (lower(btrim(channel)) = any(%s)) order by 1"
                ).format(load_sql("marketing_spend_rows")),
                (list(SPEND_CHANNEL_GROUPS),),
            ).fetchall()
        ]

    if unmapped:
        context.log.warning(f"spend channels mapped to 'Other': {unmapped}")
    context.log.info(
        f"{'refitted Markov on data before ' + str(fit_before) if refit else 'Markov fit of data before ' + str(fit_before) + ' kept'}; "
        f"credited {changed} conversion(s) ({written} rows written)"
    )
    yield MaterializeResult(
        asset_key=ATTRIBUTION_TOUCH_CREDITS.key,
        metadata={
            "row_count": MetadataValue.int(int(credit_count)),
            "date_range": MetadataValue.text(f"{first} .. {last}" if first else "empty"),
            "conversions": MetadataValue.int(int(revenue[1])),
            "conversions_credited_this_run": MetadataValue.int(int(changed)),
            "rows_written_this_run": MetadataValue.int(int(written)),
            "attributed_revenue": MetadataValue.float(round(float(revenue[0]), 2)),
            "lookback_days": MetadataValue.int(config.lookback_days),
        },
    )
    yield MaterializeResult(
        asset_key=CHANNEL_ATTRIBUTION_DAILY.key,
        metadata={
            "row_count": MetadataValue.int(len(daily)),
            "date_range": MetadataValue.text(
                f"{daily['day'].min()} .. {daily['day'].max()}" if len(daily) else "empty"
            ),
            "preview": preview(daily),
            "unmapped_spend_channels": MetadataValue.text(", ".join(unmapped) or "none"),
            "revenue_by_channel": _revenue_chart(daily) if len(daily) else MetadataValue.md("no conversions"),
        },
    )
    yield MaterializeResult(
        asset_key=MARKOV_REMOVAL_EFFECTS.key,
        metadata={
            "row_count": MetadataValue.int(len(effect_rows)),
            "fitted_before": MetadataValue.text(str(fit_before)),
            "refitted_this_run": MetadataValue.bool(bool(refit)),
            "non_converting_journeys": MetadataValue.int(int(paths["nulls"].sum()) if len(paths) else 0),
            "removal_effects": preview(
                effect_rows.drop(columns=["computed_at", "lookback_days", "fit_input_hash"])
            ),
        },
    )


def _effects_rows(
    conn: psycopg.Connection,
    credits_t: sql.Identifier,
    effects: dict[str, float],
    paths: pd.DataFrame,
    config: AttributionConfig,
    fit_before: dt.date,
    input_hash: str,
    computed_at,
) -> pd.DataFrame:
    """One row per channel: removal effect, its share, journeys touching it and Markov credits."""
    converting: dict[str, int] = dict(
        conn.execute(
            "select channel, count(distinct conversion_id) from cur_touches group by channel"
        ).fetchall()
    )
    markov = {
        c: (n, r)
        for c, n, r in conn.execute(
            sql.SQL(
                "select channel, sum(credit::numeric)::float8, sum(credited_revenue::numeric)::float8 from {} "
                "where model = 'markov' group by channel"
            ).format(credits_t)
        ).fetchall()
    }
    null_journeys: dict[str, int] = {}
    for path, nulls in zip(paths["path"], paths["nulls"]):
        for channel in set(path):
            null_journeys[channel] = null_journeys.get(channel, 0) + int(nulls)
    channels = sorted(set(effects) | set(converting))
    total = sum(effects.values())
    return pd.DataFrame(
        {
            "channel": channels,
            "removal_effect": [float(effects.get(c, 0.0)) for c in channels],
            "removal_share": [effects.get(c, 0.0) / total if total > 0 else 0.0 for c in channels],
            "converting_journeys": [int(converting.get(c, 0)) for c in channels],
            "null_journeys": [null_journeys.get(c, 0) for c in channels],
            "credited_conversions": [float(markov.get(c, (0.0, 0.0))[0]) for c in channels],
            "credited_revenue": [float(markov.get(c, (0.0, 0.0))[1]) for c in channels],
            "lookback_days": config.lookback_days,
            "computed_at": computed_at,
            "fitted_before": fit_before,
            "fit_input_hash": input_hash,
            "half_life_days": config.half_life_days,
        },
        columns=list(EFFECT_TYPES),
    )


def _revenue_chart(daily: pd.DataFrame) -> MetadataValue:
    by_model = daily.pivot_table(
        index="channel", columns="model", values="revenue", aggfunc="sum", fill_value=0.0
    )
    by_model = by_model.reindex(columns=["markov", "last_touch"], fill_value=0.0).sort_values(
        "markov", ascending=False
    )
    png = grouped_bar_png(
        list(by_model.index),
        {
            "Markov": by_model["markov"].round(2).tolist(),
            "Last touch": by_model["last_touch"].round(2).tolist(),
        },
        "Revenue credited per channel: Markov vs last touch",
        ylabel="revenue",
    )
    return chart(png, "revenue credited per channel, Markov vs last touch")
