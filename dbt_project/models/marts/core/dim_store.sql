-- Grain: one row per store.
select store_id, store_name, marketplace, currency, timezone
from {{ ref('stg_amazon__stores') }}
