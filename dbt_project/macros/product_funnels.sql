{#
  Funnel definitions of var `product_funnels`, checked, with defaults filled in:
      - name: ecommerce                       # unique, letters/digits/_/-/space
        steps: [Product Viewed, Product Added, Checkout Started, Order Completed]
        window_days: 14                       # default 14
        mode: ordered                         # ordered (default) | strict | any
  Steps are track event names. A wrong definition stops compilation with a message naming it.
#}
{% macro product_funnel_definitions() %}
    {%- set funnels = var('product_funnels', []) or [] -%}
    {%- set checked = [] -%}
    {%- set seen = [] -%}
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
        {%- do checked.append({'name': name, 'steps': steps | list, 'mode': mode, 'window_days': window_days}) -%}
    {%- endfor -%}
    {{ return(checked) }}
{% endmacro %}
