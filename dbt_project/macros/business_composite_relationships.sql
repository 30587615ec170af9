{#
  Generic test: every non-null combination of `columns` in the model exists in `to` (a composite
  foreign key, e.g. store_id + sku into dim_product). `to_columns` defaults to the same names.
#}
{% test business_composite_relationships(model, columns, to, to_columns=none) %}
{%- set parent_columns = to_columns or columns -%}
select {% for column in columns %}child.{{ column }}{{ ", " if not loop.last }}{% endfor %}
from (select * from {{ model }}) as child  -- model may be a filtered subquery (its own alias)
where {% for column in columns %}child.{{ column }} is not null{{ " and " if not loop.last }}{% endfor %}
  and not exists (
      select 1
      from {{ to }} as parent
      where {% for column in columns %}parent.{{ parent_columns[loop.index0] }} = child.{{ column }}{{ " and " if not loop.last }}{% endfor %}
  )
{% endtest %}
