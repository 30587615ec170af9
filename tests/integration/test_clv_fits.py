"""clv_model keeps one fit per distinct input: a second run over the same orders appends nothing.

clv_model runs for real (Dagster ``materialize``) on a small fct_orders_web of customers drawn from
the BG/NBD and Gamma-Gamma models. A fit is 7 parameter rows (BG/NBD r, alpha, a, b; Gamma-Gamma
p, q, v) and one calibration row per calibration-frequency bucket plus ``all``; the counts below
are read from the tables, never from the code under test.
"""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import psycopg
import pytest
from dagster import materialize

from nexus_pipelines.defs.analytics.clv import append_fit, clv_model
from nexus_pipelines.defs.resources import WarehouseResource
from nexus_pipelines.lib.warehouse.frames import replace_table

from .clv_reference import simulated_orders

FIRST_DAY = dt.date(2025, 1, 1)
PARAMETERS_PER_FIT = 7  # r, alpha, a, b + p, q, v


def load_orders(url: str) -> pd.DataFrame:
    """400 simulated customers over 200 days into marts.fct_orders_web; returns the rows."""
    orders = pd.DataFrame(
        [
            (f"o{n:06d}", customer, FIRST_DAY + dt.timedelta(days=day), revenue)
            for n, (customer, day, revenue) in enumerate(
                simulated_orders(5, 400, 200, (0.6, 20.0, 0.8, 2.5), (6.0, 4.0, 15.0))
            )
        ],
        columns=["order_id", "user_id", "order_date", "revenue"],
    )
    orders["ordered_at"] = [dt.datetime.combine(d, dt.time(12), tzinfo=dt.UTC) for d in orders["order_date"]]
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(
            """create table marts.fct_orders_web (order_id text, user_id text, ordered_at timestamptz,
                                                  order_date date, revenue numeric(18, 2))"""
        )
        with conn.cursor().copy(
            "copy marts.fct_orders_web (order_id, user_id, ordered_at, order_date, revenue) from stdin"
        ) as copy:
            for row in orders[["order_id", "user_id", "ordered_at", "order_date", "revenue"]].itertuples(
                index=False
            ):
                copy.write_row(row)
    return orders


def run_clv_model(url: str) -> dict:
    result = materialize([clv_model], resources={"warehouse": WarehouseResource(database_url=url)})
    assert result.success
    return {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("clv_model")}


def counts(url: str) -> dict[str, tuple[int, int, int]]:
    """table -> (rows, distinct fitted_at, distinct input_hash)."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                "select count(*), count(distinct fitted_at), count(distinct input_hash) "
                f"from analytics.{table}"
            ).fetchone()
            for table in ("clv_model_params", "clv_calibration")
        }


def latest_hash(url: str, table: str) -> str:
    with psycopg.connect(url) as conn:
        (found,) = conn.execute(
            f"select distinct input_hash from analytics.{table} "
            f"where fitted_at = (select max(fitted_at) from analytics.{table})"
        ).fetchall()
    return found[0]


def add_order(url: str, order_id: str, user_id: str, day: dt.date, revenue: float) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into marts.fct_orders_web values (%s, %s, %s, %s, %s)",
            (order_id, user_id, dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC), day, revenue),
        )


def test_the_same_input_appends_no_second_fit_and_a_changed_input_exactly_one(fresh_db):
    orders = load_orders(fresh_db)
    first = run_clv_model(fresh_db)
    after_first = counts(fresh_db)
    # calibration rows of a fit: the buckets 0..6 and 7+ that have customers, plus "all"
    with psycopg.connect(fresh_db) as conn:
        (buckets,) = conn.execute("select count(*) from analytics.clv_calibration").fetchone()
    assert 3 <= buckets <= 9
    assert after_first == {"clv_model_params": (PARAMETERS_PER_FIT, 1, 1), "clv_calibration": (buckets, 1, 1)}
    assert first["clv_model_params"]["new_fit"].value is True

    second = run_clv_model(fresh_db)
    assert counts(fresh_db) == after_first
    meta = second["clv_model_params"]
    assert meta["new_fit"].value is False and meta["fitted"].value is True
    assert meta["fitted_at"].value == first["clv_model_params"]["fitted_at"].value
    assert meta["input_hash"].value == first["clv_model_params"]["input_hash"].value
    assert second["clv_calibration"]["new_fit"].value is False
    hash_a = latest_hash(fresh_db, "clv_model_params")

    # one more repeat order of an existing customer on the last day: a new input, one new fit
    last_day = max(orders["order_date"])
    customer = orders["user_id"].iloc[0]
    add_order(fresh_db, "o-extra", customer, last_day, 42.0)
    third = run_clv_model(fresh_db)
    grown = counts(fresh_db)
    assert grown["clv_model_params"] == (2 * PARAMETERS_PER_FIT, 2, 2)
    rows, fits, hashes = grown["clv_calibration"]
    assert (fits, hashes) == (2, 2) and buckets + 3 <= rows <= buckets + 9
    assert third["clv_model_params"]["new_fit"].value is True
    hash_b = latest_hash(fresh_db, "clv_model_params")
    assert hash_b != hash_a and latest_hash(fresh_db, "clv_calibration") == hash_b

    # back to the first input: nothing appended, and its fit is the latest again (the fit of the
    # data as they are now is what "latest fit" readers such as customer_ltv get)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("delete from marts.fct_orders_web where order_id = 'o-extra'")
    fourth = run_clv_model(fresh_db)
    assert counts(fresh_db) == grown
    assert fourth["clv_model_params"]["new_fit"].value is False
    assert latest_hash(fresh_db, "clv_model_params") == hash_a == latest_hash(fresh_db, "clv_calibration")


def test_a_warehouse_of_the_previous_version_gets_the_hash_column_and_keeps_its_rows(fresh_db):
    load_orders(fresh_db)
    # the tables as the version before the input hash wrote them: two identical fits
    old = pd.DataFrame(
        {
            "fitted_at": [dt.datetime(2025, 7, 1, tzinfo=dt.UTC), dt.datetime(2025, 7, 2, tzinfo=dt.UTC)],
            "model": ["bgnbd", "bgnbd"],
            "parameter": ["r", "r"],
            "value": [0.5, 0.5],
        }
    )
    replace_table(fresh_db, "analytics", "clv_model_params", old)
    replace_table(
        fresh_db,
        "analytics",
        "clv_calibration",
        pd.DataFrame({"fitted_at": old["fitted_at"], "calibration_frequency": ["all", "all"]}),
    )
    run_clv_model(fresh_db)
    run_clv_model(fresh_db)
    assert counts(fresh_db)["clv_model_params"] == (2 + PARAMETERS_PER_FIT, 3, 1)
    with psycopg.connect(fresh_db) as conn:
        (old_rows,) = conn.execute(
            "select count(*) from analytics.clv_model_params where input_hash is null"
        ).fetchone()
        assert old_rows == 2
        # the unique key refuses a second copy of a stored fit's row
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "insert into analytics.clv_model_params (fitted_at, model, parameter, value, input_hash) "
                "select now(), model, parameter, value, input_hash from analytics.clv_model_params "
                "where input_hash is not null limit 1"
            )


def test_two_concurrent_writers_of_the_same_fit_store_it_once(fresh_db):
    params = pd.DataFrame(
        {
            "fitted_at": None,
            "model": ["bgnbd"] * 4 + ["gamma_gamma"] * 3,
            "parameter": ["r", "alpha", "a", "b", "p", "q", "v"],
            "value": [0.6, 20.0, 0.8, 2.5, 6.0, 4.0, 15.0],
            "log_likelihood": -100.0,
            "n_customers": 10,
            "observation_end": dt.date(2025, 7, 1),
            "time_unit": "days",
            "input_hash": None,
        }
    )
    report = pd.DataFrame(
        {
            "fitted_at": None,
            "calibration_end": dt.date(2025, 5, 1),
            "observation_end": dt.date(2025, 7, 1),
            "holdout_days": 61,
            "calibration_frequency": ["0", "all"],
            "n_customers": [4, 10],
            "actual_mean": [0.5, 1.0],
            "predicted_mean": [0.4, 1.1],
            "mae": [0.3, 0.2],
            "input_hash": None,
        }
    )
    start = threading.Barrier(2)
    stamps: list[dt.datetime | None] = []
    errors: list[Exception] = []

    def writer() -> None:
        start.wait()
        try:
            stamps.append(append_fit(fresh_db, params, report, "same-input"))
        except Exception as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(stamp is None for stamp in stamps) == [False, True]  # one stored it, one found it
    assert counts(fresh_db) == {"clv_model_params": (7, 1, 1), "clv_calibration": (2, 1, 1)}
