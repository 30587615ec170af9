-- Grain: one row per calendar day covering all order, return, snapshot and event dates (+ a year back
-- for same-period-last-year comparisons).
with bounds as (
    select
        least(
            (select min(order_date) from {{ ref('stg_amazon__orders') }}),
            (select min(return_date) from {{ ref('stg_amazon__returns') }}),
            (select min(snapshot_date) from {{ ref('stg_amazon__inventory_snapshots') }}),
            (select min(event_date) from {{ ref('stg_events__events') }})
        ) - interval '366 days' as first_day,
        greatest(
            (select max(order_date) from {{ ref('stg_amazon__orders') }}),
            (select max(return_date) from {{ ref('stg_amazon__returns') }}),
            (select max(snapshot_date) from {{ ref('stg_amazon__inventory_snapshots') }}),
            (select max(event_date) from {{ ref('stg_events__events') }})
        ) as last_day
),
days as (
    {{ date_spine("coalesce((select first_day from bounds), current_date - 366)",
                  "coalesce((select last_day from bounds), current_date)") }}
)
select
    date_day,
    extract(isodow from date_day)::int as iso_day_of_week,
    to_char(date_day, 'Dy') as day_name,
    extract(isodow from date_day) in (6, 7) as is_weekend,
    date_trunc('week', date_day)::date as week_start,
    date_trunc('month', date_day)::date as month_start,
    date_trunc('quarter', date_day)::date as quarter_start,
    extract(year from date_day)::int as year,
    extract(isoyear from date_day)::int as iso_year,
    extract(week from date_day)::int as iso_week
from days
