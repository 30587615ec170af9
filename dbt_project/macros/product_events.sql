{#
  Helpers of the product-analytics models (staging/events, intermediate/product, marts/product).
#}

{#
  Lower-case host of a URL expression: what follows "scheme://" (or the start when there is no
  scheme) up to the first / ? or #, without user info and port; null when empty. Plain string
  functions: much cheaper than a regular expression on millions of events.
#}
{% macro product_url_host(url) -%}
    nullif(split_part(split_part(split_part(split_part(split_part(split_part(
        lower({{ url }}), '://', -1), '/', 1), '?', 1), '#', 1), '@', -1), ':', 1), '')
{%- endmacro %}

{#
  Device type from a User-Agent string. Simple, documented rules, checked in this order:
    1. no user agent (server-side calls)                                  -> null
    2. tablet: iPad, "Tablet", Kindle / Silk, PlayBook, or Android without "Mobile"
    3. mobile: "Mobi" (Mobile, Mobile Safari), iPhone, iPod, Android, BlackBerry/BB10,
       Opera Mini, IEMobile, Windows Phone, webOS
    4. desktop: every other user agent
  iPadOS 13+ Safari announces itself as a Macintosh by default and is therefore counted as desktop.
  The argument must already be LOWER-CASED (compute lower(user_agent) once and pass it): the
  tokens are matched with strpos, far cheaper per event than case-insensitive regular expressions.
#}
{% macro product_device_type(lowercase_user_agent) -%}
    {%- set ua = lowercase_user_agent -%}
    {%- set tablet = ['ipad', 'tablet', 'kindle', 'silk/', 'playbook'] -%}
    {%- set mobile = ['mobi', 'iphone', 'ipod', 'android', 'blackberry', 'bb10', 'opera mini', 'iemobile', 'windows phone', 'webos'] -%}
    case
        when {{ ua }} is null then null
        when {% for token in tablet %}strpos({{ ua }}, '{{ token }}') > 0 or {% endfor -%}
            (strpos({{ ua }}, 'android') > 0 and strpos({{ ua }}, 'mobile') = 0) then 'tablet'
        when {% for token in mobile %}strpos({{ ua }}, '{{ token }}') > 0{{ " or " if not loop.last }}{% endfor %} then 'mobile'
        else 'desktop'
    end
{%- endmacro %}

{#
  A number read from a jsonb object: JSON numbers as they are, numeric strings ("12.50") cast,
  anything else (text, objects, missing keys) null instead of failing the query.
#}
{% macro product_json_numeric(json_column, key) -%}
    case jsonb_typeof({{ json_column }} -> '{{ key }}')
        when 'number' then ({{ json_column }} ->> '{{ key }}')::numeric
        when 'string' then
            case when trim({{ json_column }} ->> '{{ key }}') ~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$'
                then trim({{ json_column }} ->> '{{ key }}')::numeric
            end
    end
{%- endmacro %}

{#
  Read window of the partitioned product facts: the dates they rebuild (macro
  partition_window_filter) widened by `session_lookback_days` on both sides, so that a session
  crossing a window edge is sessionized from all of its events. Without the vars: everything.
#}
{% macro product_lookback_window_filter(date_column, domain=none) -%}
    {{ partition_window_filter(date_column, domain, widen=var('session_lookback_days', 1) | int) }}
{%- endmacro %}

{# A text value as a SQL string literal. #}
{% macro product_sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#
  The days each stitched user was active: every UTC day a session of theirs touched (a session
  running past midnight makes the user active on both days). Columns user_key, activity_date.
#}
{% macro product_user_active_days() -%}
    select distinct
        s.user_key,
        covered_day::date as activity_date
    from {{ ref('fct_sessions') }} as s
    cross join lateral generate_series(
        s.session_date, (s.ended_at at time zone 'UTC')::date, interval '1 day'
    ) as covered_day
{%- endmacro %}
