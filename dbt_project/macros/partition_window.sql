{#
  The dates an incremental fact rebuilds, in this order of precedence:

  1. var `rebuild_ranges` (what Dagster passes): {domain: [[first, last], ...]} — the business
     dates the loads since the last successful build touched, plus the run's partition window
     (see nexus_pipelines/lib/warehouse/changes.py). A model names its domain; a domain with no
     ranges rebuilds nothing.
  2. vars `min_date` / `max_date`: one inclusive window for every domain (manual runs, tests).
  3. neither: everything (a full rebuild of the facts).

  `widen` reads that many extra days on both sides of every range (sessions crossing midnight).
#}
{% macro partition_window_filter(date_column, domain=none, widen=0) -%}
    {%- set ranges_by_domain = var('rebuild_ranges', none) -%}
    {%- if var('rebuild_from_ops', false) and domain is not none -%}
        {#- The ranges are read when the model runs and written into its SQL as literals: a plain
            date condition reaches the raw table's date index through the views (a semi-join on
            the ranges table would not, and every event would be de-duplicated first). -#}
        {%- if execute -%}
            {%- set rows = run_query("select first_day::text, last_day::text from "
                                     ~ var('rebuild_ranges_table', 'ops.rebuild_ranges')
                                     ~ " where domain = '" ~ domain ~ "' order by first_day") -%}
            {%- set ranges = [] -%}
            {%- for row in rows.rows -%}{%- do ranges.append([row[0], row[1]]) -%}{%- endfor -%}
            {{ nexus_ranges_filter(date_column, ranges, widen) }}
        {%- else -%}
            true
        {%- endif -%}
    {%- elif ranges_by_domain is not none and domain is not none -%}
        {%- set ranges = ranges_by_domain.get(domain, []) -%}
        {%- if ranges == 'all' -%}
            true
        {%- else -%}
            {{ nexus_ranges_filter(date_column, ranges, widen) }}
        {%- endif -%}
    {%- elif var('min_date', none) and var('max_date', none) -%}
        {{ date_column }} between '{{ var("min_date") }}'::date - {{ widen | int }} and '{{ var("max_date") }}'::date + {{ widen | int }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Inclusive date ranges [[first, last], ...] as one condition; no range: false; the whole
    calendar (the plan's "every date", 1900-01-01 .. 9999-12-30): true. -#}
{% macro nexus_ranges_filter(date_column, ranges, widen=0) -%}
    {%- if ranges | length == 0 -%}
        false
    {%- elif ranges | length == 1 and ranges[0][0] <= '1900-01-01' and ranges[0][1] >= '9999-12-30' -%}
        true
    {%- else -%}
        ({%- for r in ranges %}{{ " or " if not loop.first }}{{ date_column }} between '{{ r[0] }}'::date - {{ widen | int }} and '{{ r[1] }}'::date + {{ widen | int }}{% endfor -%})
    {%- endif -%}
{%- endmacro %}
