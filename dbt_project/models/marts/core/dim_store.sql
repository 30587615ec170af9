{{ config(indexes=[{'columns': ['store_id']}]) }}
-- Grain: one row per store: every store of stores.yaml, and every store folder of the landing data
-- that stores.yaml does not list (is_configured false, UTC calendar, no name or currency), so that
-- their rows stay visible and joinable while the warning test on is_configured reports them.
with configured as (
    select store_id, store_name, marketplace, currency, timezone
    from {{ ref('stg_amazon__stores') }}
),

landed as (
    select store_id from {{ source('raw', 'amazon_orders') }}
    union
    select store_id from {{ source('raw', 'amazon_returns') }}
    union
    select store_id from {{ source('raw', 'amazon_inventory') }}
    union
    select store_id from {{ source('raw', 'amazon_sales_traffic_by_date') }}
)

select store_id, store_name, marketplace, currency, timezone, true as is_configured
from configured
union all
select l.store_id, null, null, null, 'UTC', false
from landed as l
where l.store_id is not null
    and not exists (
        select 1 from configured as c
        where c.store_id = l.store_id
    )
