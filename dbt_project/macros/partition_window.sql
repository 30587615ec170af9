{#
  Incremental facts rebuild exactly the partition window Dagster passes as vars min_date / max_date
  (inclusive). Without the vars (a plain `dbt build`), the filter is always true: everything.
#}
{% macro partition_window_filter(date_column) -%}
    {%- if var('min_date', none) and var('max_date', none) -%}
        {{ date_column }} between '{{ var("min_date") }}'::date and '{{ var("max_date") }}'::date
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{# delete+insert key for incremental facts: the whole window is deleted, then re-inserted. #}
{% macro window_delete_predicate(date_column) -%}
    {%- if var('min_date', none) and var('max_date', none) -%}
        ["{{ date_column }} between '{{ var('min_date') }}'::date and '{{ var('max_date') }}'::date"]
    {%- else -%}
        []
    {%- endif -%}
{%- endmacro %}
