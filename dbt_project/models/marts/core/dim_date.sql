{{ config(indexes=[{'columns': ['date_day']}]) }}
-- Grain: one row per calendar day covering every landed Amazon partition (+ a year back for
-- same-period-last-year comparisons). Bounds come from the raw tables' indexed partition dates,
-- so building the calendar never scans a whole table; they are widened by a day on each side for
-- purchase and return dates in a store's time zone. Only the Amazon sources: the calendar serves the
-- seller marts, and the Amazon chain must not depend on the events (one bad input stops only its own chain).
with bounds as (
    select
        least(
            (select min(_partition_date) from {{ source('raw', 'amazon_orders') }}),
            (select min(_partition_date) from {{ source('raw', 'amazon_returns') }}),
            (select min(_partition_date) from {{ source('raw', 'amazon_inventory') }})
        ) - 367 as first_day,
        greatest(
            (select max(_partition_date) from {{ source('raw', 'amazon_orders') }}),
            (select max(_partition_date) from {{ source('raw', 'amazon_returns') }}),
            (select max(_partition_date) from {{ source('raw', 'amazon_inventory') }})
        ) + 1 as last_day
),

days as (
    {{ day_spine("coalesce((select first_day from bounds), current_date - 366)",
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
    extract(year from date_day)::int as year,  -- noqa: RF04
    extract(isoyear from date_day)::int as iso_year,
    extract(week from date_day)::int as iso_week
from days
