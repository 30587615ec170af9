{#
  Inventory planning helpers (reorder point and safety stock).

  inventory_normal_quantile(p): SQL expression for z = Φ⁻¹(p), the standard normal quantile of a
  service level p in (0, 1), e.g. 0.95 → 1.6449, 0.99 → 2.3263. Peter Acklam's rational
  approximation (relative error below 1.15e-9): a central rational function for
  0.02425 <= p <= 0.97575 and a tail function of q = sqrt(-2 ln p) outside it. PostgreSQL has no
  inverse normal function and the service level can differ per store, so it is computed in SQL.
#}
{% macro inventory_normal_quantile(p) -%}
    {%- set a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239] -%}
    {%- set b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572, 1.0] -%}
    {%- set c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549671348902400, 4.374664141464968, 2.938163982698783] -%}
    {%- set d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416, 1.0] -%}
    {%- set p = "(" ~ p ~ ")::float8" -%}
    {%- set q_central = "(" ~ p ~ " - 0.5)" -%}
    {%- set r = "(" ~ q_central ~ " * " ~ q_central ~ ")" -%}
    {%- set q_low = "sqrt(-2 * ln(" ~ p ~ "))" -%}
    {%- set q_high = "sqrt(-2 * ln(1 - " ~ p ~ "))" -%}
    (case
        when {{ p }} < 0.02425
            then {{ inventory__polynomial(c, q_low) }} / {{ inventory__polynomial(d, q_low) }}
        when {{ p }} <= 0.97575
            then {{ inventory__polynomial(a, r) }} * {{ q_central }} / {{ inventory__polynomial(b, r) }}
        else -{{ inventory__polynomial(c, q_high) }} / {{ inventory__polynomial(d, q_high) }}
    end)
{%- endmacro %}

{# Horner form of c0·x^n + c1·x^(n-1) + … + cn. #}
{% macro inventory__polynomial(coefficients, x) -%}
    {%- set expression = namespace(text=coefficients[0] | string) -%}
    {%- for coefficient in coefficients[1:] -%}
        {%- set expression.text = "(" ~ expression.text ~ " * " ~ x ~ " + " ~ coefficient ~ ")" -%}
    {%- endfor -%}
    {{ expression.text }}
{%- endmacro %}

{#
  inventory_store_planning_overrides(): a query of (store_id, lead_time_days, service_level) from
  var store_overrides = {store_id: {lead_time_days: .., service_level: ..}}; a missing key is
  null (the store then uses the default var). Values are checked here so that a typo fails the
  compile with a clear message instead of producing a wrong reorder point.
#}
{% macro inventory_store_planning_overrides() -%}
    {%- set overrides = var('store_overrides', {}) or {} -%}
    {%- if overrides is not mapping -%}
        {{ exceptions.raise_compiler_error("var store_overrides must be a mapping {store_id: {lead_time_days, service_level}}") }}
    {%- endif -%}
    {%- if overrides | length == 0 -%}
    select null::text as store_id, null::integer as lead_time_days, null::numeric as service_level where false
    {%- else -%}
    select store_id, lead_time_days, service_level
    from (values
        {%- for store_id, settings in overrides.items() %}
        {%- set lead_time = settings.get('lead_time_days') if settings is mapping else none -%}
        {%- set service_level = settings.get('service_level') if settings is mapping else none -%}
        {{ inventory__check_planning_values('store_overrides.' ~ store_id, lead_time, service_level) }}
        ('{{ store_id | string | replace("'", "''") }}',
         {{ lead_time if lead_time is not none else 'null' }}::integer,
         {{ service_level if service_level is not none else 'null' }}::numeric){{ "," if not loop.last }}
        {%- endfor %}
    ) as overrides (store_id, lead_time_days, service_level)
    {%- endif -%}
{%- endmacro %}

{% macro inventory__check_planning_values(label, lead_time, service_level) -%}
    {%- if lead_time is not none and (lead_time is not number or lead_time < 0 or lead_time != lead_time | int) -%}
        {{ exceptions.raise_compiler_error(label ~ ": lead_time_days must be a whole number of days >= 0, got " ~ lead_time) }}
    {%- endif -%}
    {%- if service_level is not none and (service_level is not number or service_level <= 0 or service_level >= 1) -%}
        {{ exceptions.raise_compiler_error(label ~ ": service_level must be a number between 0 and 1 (exclusive), got " ~ service_level) }}
    {%- endif -%}
{%- endmacro %}

{# The default planning values, checked like the per-store ones. #}
{% macro inventory_default_lead_time_days() -%}
    {%- set value = var('lead_time_days') -%}
    {{ inventory__check_planning_values('dbt var', value, none) }}{{ value }}
{%- endmacro %}

{% macro inventory_default_service_level() -%}
    {%- set value = var('service_level') -%}
    {{ inventory__check_planning_values('dbt var', none, value) }}{{ value }}
{%- endmacro %}
