{#
  Event names: one spelling per event, whatever the SDK sent (docs/events.md).

  Two names are the same event when their KEYS are equal: the name with the ASCII letters
  lower-cased and every space, "_", "-" and "." removed, so "Order Completed", "order_completed",
  "order-completed", "ORDER COMPLETED" and "orderCompleted" all have the key "ordercompleted".
  Other characters (digits, letters outside ASCII) are kept as they are.

  stg_events__events shows a track event's name CANONICAL: the spec name (Segment e-commerce v2)
  or the alias target whose key the sent name has, else the name as sent; event_name_raw keeps
  what was sent. Names written in the project's configuration (funnel steps, goals,
  product_non_interactive_events) are matched the same way (nexus_event_name_in), so a funnel
  step "Signed Up" also counts events sent as "signed_up", and a step written "order_completed"
  counts Order Completed.

  var event_name_aliases ({alias: target}, in dbt_project.yml or --vars) adds names of one's own,
  e.g. {purchase: Order Completed, signup: Signed Up}: an alias matches by its key too, and a
  target may itself be spelled any way that has a spec name's key. An alias cannot re-map a spec
  name. The mapping is applied when the models read the events, so a change applies to every
  event already loaded; the partitioned facts (fct_sessions, fct_goal_completions) rebuild only
  the dates a run touches, see docs/events.md for what to run after changing it.
#}

{# The Segment e-commerce spec (v2) event names. #}
{% macro nexus_spec_event_names() %}
    {{ return([
        'Products Searched', 'Product List Viewed', 'Product List Filtered',
        'Promotion Viewed', 'Promotion Clicked',
        'Product Clicked', 'Product Viewed', 'Product Added', 'Product Removed', 'Cart Viewed',
        'Checkout Started', 'Checkout Step Viewed', 'Checkout Step Completed', 'Payment Info Entered',
        'Order Completed', 'Order Updated', 'Order Refunded', 'Order Cancelled',
        'Coupon Entered', 'Coupon Applied', 'Coupon Denied', 'Coupon Removed',
        'Product Added to Wishlist', 'Product Removed from Wishlist', 'Wishlist Product Added to Cart',
        'Product Shared', 'Cart Shared',
        'Product Reviewed',
    ]) }}
{% endmacro %}

{# The e-commerce v1 names the v2 spec itself names as aliases of its events. #}
{% macro nexus_builtin_event_aliases() %}
    {{ return({
        'Viewed Product Category': 'Product List Viewed',
        'Viewed Promotion': 'Promotion Viewed',
        'Clicked Promotion': 'Promotion Clicked',
        'Clicked Product': 'Product Clicked',
    }) }}
{% endmacro %}

{# The key of a name given in the project (Jinja): what nexus_event_key_sql computes in SQL. #}
{% macro nexus_event_key(name) %}
    {%- set upper = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' -%}
    {%- set lower = 'abcdefghijklmnopqrstuvwxyz' -%}
    {%- set ns = namespace(key='') -%}
    {%- for character in name | string -%}
        {%- if character in upper -%}
            {%- set ns.key = ns.key ~ lower[upper.index(character)] -%}
        {%- elif character not in ' _-.' -%}
            {%- set ns.key = ns.key ~ character -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(ns.key) }}
{% endmacro %}

{#
  The key of a text expression (SQL). lower() in the "C" collation changes the ASCII letters
  only, as nexus_event_key does; replace() and lower() cost about a tenth of what one
  translate() costs per event.
#}
{% macro nexus_event_key_sql(expression) -%}
    lower(replace(replace(replace(replace({{ expression }}, ' ', ''), '_', ''), '-', ''), '.', '') collate "C")
{%- endmacro %}

{#
  key -> canonical name: the spec names, the built-in aliases and var event_name_aliases,
  checked (a wrong entry stops compilation with a message naming it).
#}
{% macro nexus_event_name_map() %}
    {%- set names = {} -%}
    {%- for name in nexus_spec_event_names() -%}
        {%- do names.update({nexus_event_key(name): name}) -%}
    {%- endfor -%}
    {%- set spec = names.copy() -%}
    {%- for alias, target in nexus_builtin_event_aliases().items() -%}
        {%- do names.update({nexus_event_key(alias): target}) -%}
    {%- endfor -%}
    {%- set aliases = var('event_name_aliases', {}) or {} -%}
    {%- if aliases is not mapping -%}
        {{ exceptions.raise_compiler_error("event_name_aliases must map each alias to an event name, e.g. {purchase: Order Completed}") }}
    {%- endif -%}
    {%- set own = {} -%}
    {%- for alias, target in aliases.items() -%}
        {%- if alias is not string or target is not string or not nexus_event_key(alias) or not nexus_event_key(target) -%}
            {{ exceptions.raise_compiler_error("event_name_aliases: '" ~ alias ~ "': '" ~ target ~ "' must be two event names (text)") }}
        {%- endif -%}
        {%- set key = nexus_event_key(alias) -%}
        {%- set canonical = spec.get(nexus_event_key(target), target) -%}
        {%- if key in spec and spec[key] != canonical -%}
            {{ exceptions.raise_compiler_error("event_name_aliases: '" ~ alias ~ "' is the spec event '" ~ spec[key] ~ "', which cannot be re-mapped") }}
        {%- endif -%}
        {%- if key in own and own[key][1] != canonical -%}
            {{ exceptions.raise_compiler_error("event_name_aliases: '" ~ alias ~ "' and '" ~ own[key][0] ~ "' are the same name (case, spaces, _ - . aside) with different targets") }}
        {%- endif -%}
        {%- do own.update({key: [alias, canonical]}) -%}
        {%- do names.update({key: canonical}) -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}

{# The canonical spelling of a name given in the project (Jinja). #}
{% macro nexus_canonical_event_name(name) %}
    {{ return(nexus_event_name_map().get(nexus_event_key(name), name)) }}
{% endmacro %}

{#
  The canonical name of a text expression (SQL). A name already canonical (most events: the spec
  names) is found in a hashed IN list; any other is looked up by its key in a constant jsonb
  object (a binary search), else kept as it is.
#}
{% macro nexus_canonical_event_name_sql(expression) -%}
    {%- set names = nexus_event_name_map() -%}
    {%- set canonical = [] -%}
    {%- for name in names.values() | unique | sort -%}
        {%- if names.get(nexus_event_key(name), name) == name %}{% do canonical.append(name) %}{% endif -%}
    {%- endfor -%}
    case
        when {{ expression }} in ({% for name in canonical %}{{ product_sql_string(name) }}{{ ", " if not loop.last }}{% endfor %}) then {{ expression }}
        else coalesce('{{ names | tojson | replace("'", "''") }}'::jsonb ->> {{ nexus_event_key_sql(expression) }}, {{ expression }})
    end
{%- endmacro %}

{#
  SQL predicate: the canonical event name in `expression` is one of `names` (names given in the
  project, in any spelling); `names` may be one name or a list.
#}
{% macro nexus_event_name_in(expression, names) -%}
    {%- set names = [names] if names is string else names -%}
    {%- set keys = [] -%}
    {%- for name in names -%}
        {%- set key = nexus_event_key(nexus_canonical_event_name(name)) -%}
        {%- if key not in keys %}{% do keys.append(key) %}{% endif -%}
    {%- endfor -%}
    {%- if keys | length == 1 -%}
        {{ nexus_event_key_sql(expression) }} = {{ product_sql_string(keys[0]) }}
    {%- else -%}
        {{ nexus_event_key_sql(expression) }} in ({% for key in keys %}{{ product_sql_string(key) }}{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}
