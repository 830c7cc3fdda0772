{#- Fails on every row of the model: for a guardrail model, whose rows are violations
    (dbt-project-evaluator's pattern). -#}
{% test is_empty(model) %}

select * from {{ model }}

{% endtest %}
