{{ config(indexes=[{'columns': ['store_id']}]) }}
-- Grain: one row per store × reason × detailed_disposition, over all returns.
-- Shares are percent 0–100: of the store's returned units, and of the reason's returned units;
-- reason_resellable_share is the share of the reason's units that came back SELLABLE.
with by_reason_and_disposition as (
    select
        store_id,
        reason,
        detailed_disposition,
        count(*) as return_lines,
        sum(quantity) as units_returned,
        sum(case when is_resellable then quantity else 0 end) as units_resellable
    from {{ ref('fct_returns') }}
    group by store_id, reason, detailed_disposition
),

with_totals as (
    select
        *,
        sum(units_returned) over (partition by store_id) as store_units_returned,
        sum(units_returned) over (partition by store_id, reason) as reason_units_returned,
        sum(units_resellable) over (partition by store_id, reason) as reason_units_resellable
    from by_reason_and_disposition
)

select
    store_id,
    reason,
    detailed_disposition,
    return_lines,
    units_returned,
    ({{ safe_divide('units_returned * 100', 'store_units_returned') }})::numeric(9, 2) as share_of_store_returns,
    ({{ safe_divide('units_returned * 100', 'reason_units_returned') }})::numeric(9, 2) as share_of_reason_returns,
    reason_units_returned,
    ({{ safe_divide('reason_units_resellable * 100', 'reason_units_returned') }})::numeric(9, 2) as reason_resellable_share
from with_totals
