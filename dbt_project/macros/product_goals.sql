{#
  Goal definitions of var `product_goals`, checked. A goal is a name plus either
      event: Order Completed          # a track event name (any spelling: macros/event_names.sql)
  or
      page_path: /pricing%            # a page call's path, SQL LIKE pattern (% any text, _ one character)
  and optional conditions on the event's properties, all of which must hold:
      conditions:
        - {property: revenue, operator: ">", value: 100}
        - {property: currency, operator: in, value: [USD, EUR]}
  property: a key of `properties`, or a dotted path into nested objects (shipping.method).
  operator: = != > >= < <= (numbers compare as numbers, other values as text), contains
  (case-insensitive substring), in (a list), is_set, is_not_set.
  A wrong definition stops compilation with a message naming it.
#}
{% macro product_goal_definitions() %}
    {%- set goals = var('product_goals', []) or [] -%}
    {%- set operators = ['=', '!=', '>', '>=', '<', '<=', 'contains', 'in', 'is_set', 'is_not_set'] -%}
    {%- set seen = [] -%}
    {%- for goal in goals -%}
        {%- set name = goal.get('name') -%}
        {%- if not name or name is not string or modules.re.match('^[A-Za-z0-9_ -]+$', name) is none -%}
            {{ exceptions.raise_compiler_error("product_goals: goal #" ~ loop.index ~ " needs a name of letters, digits, space, _ or -") }}
        {%- endif -%}
        {%- if name in seen -%}
            {{ exceptions.raise_compiler_error("product_goals: goal name '" ~ name ~ "' is used twice") }}
        {%- endif -%}
        {%- do seen.append(name) -%}
        {%- if (goal.get('event') and goal.get('page_path')) or not (goal.get('event') or goal.get('page_path')) -%}
            {{ exceptions.raise_compiler_error("product_goals: goal '" ~ name ~ "' needs exactly one of event or page_path") }}
        {%- endif -%}
        {%- for condition in goal.get('conditions') or [] -%}
            {%- if not condition.get('property') or condition.get('operator') not in operators -%}
                {{ exceptions.raise_compiler_error("product_goals: goal '" ~ name ~ "' has a condition without property or with an operator not in " ~ operators | join(', ')) }}
            {%- endif -%}
            {%- if condition.get('operator') not in ['is_set', 'is_not_set'] and condition.get('value') is none -%}
                {{ exceptions.raise_compiler_error("product_goals: goal '" ~ name ~ "' has a '" ~ condition.get('operator') ~ "' condition without value") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(goals) }}
{% endmacro %}

{# SQL predicate: the event (columns event_type, event_name, page_path, properties) completes `goal`. #}
{% macro product_goal_condition(goal) -%}
    (
        {%- if goal.get('event') %}
        event_type = 'track' and {{ nexus_event_name_in('event_name', goal.get('event')) }}
        {%- else %}
        event_type = 'page' and page_path like {{ product_sql_string(goal.get('page_path')) }}
        {%- endif %}
        {%- for condition in goal.get('conditions') or [] %}
        and {{ product_property_condition(condition) }}
        {%- endfor %}
    )
{%- endmacro %}

{# SQL predicate of one property condition (see product_goal_definitions). #}
{% macro product_property_condition(condition) -%}
    {%- set path = condition.property | string | replace("'", "''") | replace('"', '') -%}
    {%- set value_json = "properties #> '{" ~ path.split('.') | join(',') ~ "}'" -%}
    {%- set value_text = "(properties #>> '{" ~ path.split('.') | join(',') ~ "}')" -%}
    {%- set as_number = "(case when jsonb_typeof(" ~ value_json ~ ") = 'number' or " ~ value_text
        ~ " ~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$' then " ~ value_text ~ "::numeric end)" -%}
    {%- set operator = condition.operator -%}
    {%- set value = condition.get('value') -%}
    {%- if operator == 'is_set' -%}
        coalesce(jsonb_typeof({{ value_json }}), 'null') <> 'null'
    {%- elif operator == 'is_not_set' -%}
        coalesce(jsonb_typeof({{ value_json }}), 'null') = 'null'
    {%- elif operator == 'contains' -%}
        strpos(lower({{ value_text }}), lower({{ product_sql_string(value) }})) > 0
    {%- elif operator == 'in' -%}
        {%- set values = value if (value is iterable and value is not string) else [value] -%}
        {{ value_text }} in ({% for v in values %}{{ product_sql_string(v | lower if v is sameas true or v is sameas false else v) }}{{ ", " if not loop.last }}{% endfor %})
    {%- elif value is number and value is not sameas true and value is not sameas false -%}
        {{ as_number }} {{ operator }} {{ value }}
    {%- elif operator in ['>', '>=', '<', '<='] -%}
        {{ exceptions.raise_compiler_error("product_goals: operator " ~ operator ~ " needs a number, got " ~ value) }}
    {%- else -%}
        {{ value_text }} {{ '<>' if operator == '!=' else '=' }} {{ product_sql_string(value | lower if value is sameas true or value is sameas false else value) }}
    {%- endif -%}
{%- endmacro %}
