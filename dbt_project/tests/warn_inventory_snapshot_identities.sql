-- FBA inventory identities (formats README): warehouse = fulfillable + unsellable + reserved and
-- total = warehouse + inbound working + shipped + receiving. A row that breaks them is suspicious:
-- it is kept, and this test warns (it does not fail the build).
{{ config(severity='warn') }}
select store_id, sku, snapshot_date, warehouse_quantity, total_quantity
from {{ ref('stg_amazon__inventory_snapshots') }}
where breaks_warehouse_identity
   or total_quantity <> warehouse_quantity + inbound_quantity
