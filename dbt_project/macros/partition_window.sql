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
        exists (
            select 1 from {{ var('rebuild_ranges_table', 'ops.rebuild_ranges') }} as rebuild
            where rebuild.domain = '{{ domain }}'
              and {{ date_column }} between rebuild.first_day - {{ widen | int }} and rebuild.last_day + {{ widen | int }}
        )
    {%- elif ranges_by_domain is not none and domain is not none -%}
        {%- set ranges = ranges_by_domain.get(domain, []) -%}
        {%- if ranges == 'all' -%}
            true
        {%- elif ranges | length == 0 -%}
            false
        {%- else -%}
            ({%- for r in ranges %}{{ " or " if not loop.first }}{{ date_column }} between '{{ r[0] }}'::date - {{ widen | int }} and '{{ r[1] }}'::date + {{ widen | int }}{% endfor -%})
        {%- endif -%}
    {%- elif var('min_date', none) and var('max_date', none) -%}
        {{ date_column }} between '{{ var("min_date") }}'::date - {{ widen | int }} and '{{ var("max_date") }}'::date + {{ widen | int }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
