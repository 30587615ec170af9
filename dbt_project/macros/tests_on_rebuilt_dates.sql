{#
  Data tests of an incremental fact (a model with partition_column and partition_domain) check only
  the dates the run rebuilt when var tests_on_rebuilt_dates is true, as the daily runs set it: a
  one-day run tests one day's rows, not the whole history. The weekly full check
  (schedule weekly_full_checks) runs every test over every row. A test's own `where` still applies.
  Overrides dbt's get_where_subquery, which wraps the tested relation for every data test.
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set window = none -%}
    {%- if var('tests_on_rebuilt_dates', false) and execute -%}
        {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
        {%- if tested and tested.config.get('partition_column') and tested.config.get('partition_domain') -%}
            {%- set window = partition_window_filter(tested.config.get('partition_column'),
                                                     tested.config.get('partition_domain')) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where and window -%}
        {%- do return('(select * from ' ~ relation ~ ' where (' ~ where ~ ') and ' ~ window ~ ') dbt_subquery') -%}
    {%- elif window -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ window ~ ') dbt_subquery') -%}
    {%- elif where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
