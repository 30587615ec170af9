-- A funnel's converted users can only shrink from one step to the next, in every breakdown.
-- Returns the violating rows (dbt fails the test when any row comes back).
select funnel_name, breakdown_type, breakdown_value, step_number, users_converted, previous_step_users
from (
    select
        funnel_name, breakdown_type, breakdown_value, step_number, users_converted,
        lag(users_converted) over (
            partition by funnel_name, breakdown_type, breakdown_value order by step_number
        ) as previous_step_users
    from {{ ref('fct_funnel_steps') }}
) as steps
where users_converted > previous_step_users
