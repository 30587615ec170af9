{#- Post-hook of every mart: the BI groups' grants and, on tables with a store_id, the row-level
    security policies, in the transaction that (re)creates the table, so a rebuilt mart is never
    readable without its policies. A no-op until BI access is set up (`nexus bi add-user` or the
    first build creates nexus_bi.secure_relation); an error (a missing privilege) warns and never fails the model: the
    table then stays unreadable to store-limited users until the grant step after the build. -#}
{% macro bi_row_security() %}
  {%- if config.get('materialized') in ('table', 'incremental', 'view') -%}
do $nexus_bi$ begin
  if to_regprocedure('nexus_bi.secure_relation(regclass)') is not null then
    perform nexus_bi.secure_relation('{{ this.include(database=False) }}'::regclass);
  end if;
exception when others then
  raise warning 'BI access of {{ this.include(database=False) }} not secured: %', sqlerrm;
end $nexus_bi$
  {%- endif -%}
{% endmacro %}
