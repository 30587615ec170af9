-- Grain: one row per store.
select store_id, name as store_name, marketplace, currency, coalesce(timezone, 'UTC') as timezone
from {{ source('raw', 'stores') }}
