{#- Post-hook of every mart: fresh planner statistics right after a table is (re)built, so BI queries
    get sane plans at once instead of after autovacuum's next pass. Views have no statistics. -#}
{% macro analyze_after_build() %}
  {%- if config.get('materialized') in ('table', 'incremental') -%}
    analyze {{ this }}
  {%- endif -%}
{% endmacro %}
