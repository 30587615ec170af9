"""Which Dagster database the BI grants keep BI users out of (no server needed: URLs only)."""

from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.warehouse.connection import dagster_database_name, same_server_dagster_database

WAREHOUSE = "postgresql://nexus:pw@db.internal:5432/analytics"


def settings(dagster_url: str | None = None):
    env = {"NEXUS_DATABASE_URL": WAREHOUSE}
    if dagster_url:
        env["NEXUS_DAGSTER_DATABASE_URL"] = dagster_url
    return load_settings(env)


def test_the_default_dagster_database_is_named_after_the_warehouse_database():
    assert dagster_database_name(settings(), WAREHOUSE) == "analytics_dagster"
    assert same_server_dagster_database(settings(), WAREHOUSE) == "analytics_dagster"


def test_a_dagster_database_of_the_same_user_on_the_same_server_is_protected():
    same = settings("postgresql://nexus:pw@db.internal:5432/runs")
    assert same_server_dagster_database(same, WAREHOUSE) == "runs"


def test_a_dagster_database_elsewhere_or_of_another_user_is_left_alone():
    other_host = settings("postgresql://nexus:pw@runs.internal:5432/runs")
    other_user = settings("postgresql://dagster:pw@db.internal:5432/runs")
    assert same_server_dagster_database(other_host, WAREHOUSE) is None
    assert same_server_dagster_database(other_user, WAREHOUSE) is None
    assert dagster_database_name(other_user, WAREHOUSE) == "runs"
