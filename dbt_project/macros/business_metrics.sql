{#
  The headline business metrics in display order, with the SQL type each
  is stored as. fct_period_comparison builds its columns from this list and analytics_metrics
  unpivots the same list, so the two tables always carry the same metrics.
#}
{% macro business_headline_metrics() -%}
    {{ return([
        {'name': 'ordered_product_sales', 'type': 'numeric(18,2)'},
        {'name': 'units_ordered', 'type': 'bigint'},
        {'name': 'orders', 'type': 'bigint'},
        {'name': 'order_items', 'type': 'bigint'},
        {'name': 'average_order_value', 'type': 'numeric(18,2)'},
        {'name': 'average_selling_price', 'type': 'numeric(18,2)'},
        {'name': 'sessions', 'type': 'bigint'},
        {'name': 'page_views', 'type': 'bigint'},
        {'name': 'unit_session_percentage', 'type': 'numeric(9,2)'},
        {'name': 'order_item_session_percentage', 'type': 'numeric(9,2)'},
        {'name': 'buy_box_percentage', 'type': 'numeric(9,2)'},
        {'name': 'units_refunded', 'type': 'bigint'},
        {'name': 'refund_rate', 'type': 'numeric(9,2)'},
        {'name': 'refunds_amount', 'type': 'numeric(18,2)'},
        {'name': 'item_promotion_discount', 'type': 'numeric(18,2)'},
        {'name': 'net_sales', 'type': 'numeric(18,2)'},
    ]) }}
{%- endmacro %}

{# (current - previous) / |previous| × 100, null when there is no previous value or it is 0. #}
{% macro business_percent_change(current, previous) -%}
    (({{ current }} - {{ previous }})::numeric * 100 / nullif(abs({{ previous }}::numeric), 0))::numeric(18,2)
{%- endmacro %}
