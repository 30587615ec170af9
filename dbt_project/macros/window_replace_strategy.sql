{#
  Custom incremental strategy `window_replace`: delete the rebuilt dates (macro partition_window_filter
  on the model's `partition_column` and `partition_domain`) from the target, then insert the freshly built rows, in one
  transaction. Unlike delete+insert on a unique key, a day that now has no rows is emptied too,
  so re-running a window always leaves exactly what the sources say. Rows go in in date order, so
  a BI query over a date range reads few pages.
#}
{% macro get_incremental_window_replace_sql(arg_dict) %}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set columns = arg_dict["dest_columns"] | map(attribute="quoted") | join(", ") -%}
    {%- set partition_column = config.get("partition_column") -%}
    {%- if not partition_column -%}
        {{ exceptions.raise_compiler_error("window_replace needs config(partition_column=...) on " ~ this) }}
    {%- endif -%}
    delete from {{ target }} where {{ partition_window_filter(partition_column, config.get('partition_domain')) }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }} order by {{ adapter.quote(partition_column) }};
{% endmacro %}
