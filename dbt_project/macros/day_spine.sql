{# One row per day between two date expressions (inclusive), column date_day. #}
{% macro day_spine(start_date, end_date) -%}
    select d::date as date_day
    from generate_series(({{ start_date }})::date, ({{ end_date }})::date, interval '1 day') as d
{%- endmacro %}
