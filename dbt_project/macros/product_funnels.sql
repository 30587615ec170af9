{#
  Funnel definitions of var `product_funnels`, checked, with defaults filled in:
      - name: ecommerce                       # unique, letters/digits/_/-/space
        steps: [Product Viewed, Product Added, Checkout Started, Order Completed]
        window_days: 14                       # default 14
        mode: ordered                         # ordered (default) | strict | any
  Steps are track event names, matched in any spelling (macros/event_names.sql): each step is
  returned canonical (a spec name or alias target), and steps of all funnels that are the same
  name spelled differently are returned with the first spelling, so that the funnel SQL can
  compare names as they are. A wrong definition stops compilation with a message naming it.
#}
{% macro product_funnel_definitions() %}
    {%- set funnels = var('product_funnels', []) or [] -%}
    {%- set checked = [] -%}
    {%- set seen = [] -%}
    {%- set spelling = {} -%}
    {%- for funnel in funnels -%}
        {%- set name = funnel.get('name') -%}
        {%- set steps = funnel.get('steps') or [] -%}
        {%- set mode = funnel.get('mode', 'ordered') -%}
        {%- set window_days = funnel.get('window_days', 14) -%}
        {%- if not name or name is not string -%}
            {{ exceptions.raise_compiler_error("product_funnels: funnel #" ~ loop.index ~ " has no name") }}
        {%- endif -%}
        {%- if modules.re.match('^[A-Za-z0-9_ -]+$', name) is none -%}
            {{ exceptions.raise_compiler_error("product_funnels: funnel name '" ~ name ~ "' may only use letters, digits, space, _ and -") }}
        {%- endif -%}
        {%- if name in seen -%}
            {{ exceptions.raise_compiler_error("product_funnels: funnel name '" ~ name ~ "' is used twice") }}
        {%- endif -%}
        {%- if steps is string or steps | length < 1 -%}
            {{ exceptions.raise_compiler_error("product_funnels: funnel '" ~ name ~ "' needs a list of steps (track event names)") }}
        {%- endif -%}
        {%- if mode not in ['ordered', 'strict', 'any'] -%}
            {{ exceptions.raise_compiler_error("product_funnels: funnel '" ~ name ~ "' has mode '" ~ mode ~ "'; use ordered, strict or any") }}
        {%- endif -%}
        {%- if window_days is not number or window_days <= 0 -%}
            {{ exceptions.raise_compiler_error("product_funnels: funnel '" ~ name ~ "' needs window_days > 0") }}
        {%- endif -%}
        {%- do seen.append(name) -%}
        {%- set named = [] -%}
        {%- for step in steps -%}
            {%- if step is not string or not nexus_event_key(step) -%}
                {{ exceptions.raise_compiler_error("product_funnels: funnel '" ~ name ~ "' has a step that is not an event name: " ~ step) }}
            {%- endif -%}
            {%- set canonical = nexus_canonical_event_name(step) -%}
            {%- set key = nexus_event_key(canonical) -%}
            {%- if key not in spelling %}{% do spelling.update({key: canonical}) %}{% endif -%}
            {%- do named.append(spelling[key]) -%}
        {%- endfor -%}
        {%- do checked.append({'name': name, 'steps': named, 'mode': mode, 'window_days': window_days}) -%}
    {%- endfor -%}
    {{ return(checked) }}
{% endmacro %}
