{#- List (array) expressions. default__ is ANSI SQL (ARRAY[...], ARRAY(subquery), UNNEST
    WITH ORDINALITY; PostgreSQL and Trino take it); DuckDB and Spark have list functions. -#}


{#- A list of the given SQL expressions. -#}
{% macro list_of(expressions) -%}
  {{ return(adapter.dispatch('list_of', 'receval')(expressions)) }}
{%- endmacro %}

{% macro default__list_of(expressions) -%}
    array[{{ expressions | join(', ') }}]
{%- endmacro %}

{% macro duckdb__list_of(expressions) -%}
    list_value({{ expressions | join(', ') }})
{%- endmacro %}

{% macro spark__list_of(expressions) -%}
    array({{ expressions | join(', ') }})
{%- endmacro %}


{#- An empty list of element_type. -#}
{% macro empty_list(element_type) -%}
  {{ return(adapter.dispatch('empty_list', 'receval')(element_type)) }}
{%- endmacro %}

{% macro default__empty_list(element_type) -%}
    cast(array[] as {{ element_type }} array)
{%- endmacro %}

{% macro duckdb__empty_list(element_type) -%}
    cast([] as {{ element_type }}[])
{%- endmacro %}

{% macro spark__empty_list(element_type) -%}
    cast(array() as array<{{ element_type }}>)
{%- endmacro %}


{#- Aggregate: the group's values of `expression` as a list ordered by the `order_by`
    columns. -#}
{% macro ordered_list_agg(expression, order_by) -%}
  {{ return(adapter.dispatch('ordered_list_agg', 'receval')(expression, order_by)) }}
{%- endmacro %}

{#- DuckDB takes this too (array_agg is its list). -#}
{% macro default__ordered_list_agg(expression, order_by) -%}
    array_agg({{ expression }} order by {{ order_by | join(', ') }})
{%- endmacro %}

{#- Spark's collect_list has no order: sort structs whose fields are the order_by columns
    then the value. -#}
{% macro spark__ordered_list_agg(expression, order_by) -%}
    transform(
        sort_array(collect_list(named_struct(
            {%- for column in order_by %}'_order_{{ loop.index }}', {{ column }}, {% endfor %}'_value', {{ expression }}))),
        s -> s._value
    )
{%- endmacro %}


{#- A list of lists concatenated. -#}
{% macro list_flatten(list_of_lists) -%}
  {{ return(adapter.dispatch('list_flatten', 'receval')(list_of_lists)) }}
{%- endmacro %}

{% macro default__list_flatten(list_of_lists) -%}
    array(
        select element
        from unnest({{ list_of_lists }}) with ordinality as lists(inner_list, list_position)
        cross join lateral unnest(inner_list) with ordinality as elements(element, element_position)
        order by list_position, element_position
    )
{%- endmacro %}

{% macro duckdb__list_flatten(list_of_lists) -%}
    flatten({{ list_of_lists }})
{%- endmacro %}

{% macro spark__list_flatten(list_of_lists) -%}
    flatten({{ list_of_lists }})
{%- endmacro %}


{#- The first n distinct elements of a list, in order. -#}
{% macro list_first_distinct(list_column, n) -%}
  {{ return(adapter.dispatch('list_first_distinct', 'receval')(list_column, n)) }}
{%- endmacro %}

{% macro default__list_first_distinct(list_column, n) -%}
    array(
        select element
        from unnest({{ list_column }}) with ordinality as elements(element, element_position)
        group by element
        order by min(element_position)
        fetch first {{ n }} rows only
    )
{%- endmacro %}

{#- Reads the column twice: pass a column, not an expression. -#}
{% macro duckdb__list_first_distinct(list_column, n) -%}
    list_slice(list_filter({{ list_column }}, lambda x, i: list_position({{ list_column }}, x) = i), 1, {{ n }})
{%- endmacro %}

{#- array_distinct keeps the first occurrence of each element, in order. -#}
{% macro spark__list_first_distinct(list_column, n) -%}
    slice(array_distinct({{ list_column }}), 1, {{ n }})
{%- endmacro %}


{#- True where the list contains the value. -#}
{% macro list_contains(list, value) -%}
  {{ return(adapter.dispatch('list_contains', 'receval')(list, value)) }}
{%- endmacro %}

{% macro default__list_contains(list, value) -%}
    {{ value }} in (select element from unnest({{ list }}) as elements(element))
{%- endmacro %}

{% macro duckdb__list_contains(list, value) -%}
    list_contains({{ list }}, {{ value }})
{%- endmacro %}

{% macro spark__list_contains(list, value) -%}
    array_contains({{ list }}, {{ value }})
{%- endmacro %}
