-- Grain: one row per store × SKU seen in any Amazon source (orders, inventory snapshots, returns,
-- Sales and Traffic by ASIN). The product universe that dim_product describes; partitioned facts
-- test their SKUs against this view because dim_product is built after them.
with skus_seen as (
    select store_id, sku from {{ ref('stg_amazon__orders') }}
    union
    select store_id, sku from {{ ref('stg_amazon__inventory_snapshots') }}
    union
    select store_id, sku from {{ ref('stg_amazon__returns') }}
    union
    select store_id, sku from {{ ref('stg_amazon__sales_traffic_by_asin') }}
)

select store_id, sku
from skus_seen
where store_id is not null and sku is not null
