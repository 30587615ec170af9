{# md5 of the listed columns joined with '|' (nulls as a marker), like dbt_utils.generate_surrogate_key. #}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|'
    {%- for column in columns -%}
        , coalesce(cast({{ column }} as text), '_null_')
    {%- endfor -%}
    ))
{%- endmacro %}
