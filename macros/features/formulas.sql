{#- The arithmetic the feature groups share. -#}


{#- A rate: null where the denominator is 0. -#}
{% macro pit_rate(numerator, denominator) -%}
    case when {{ denominator }} > 0 then cast({{ numerator }} as double) / {{ denominator }} end
{%- endmacro %}


{#- Target encoding with additive smoothing toward the global rate before t:
    (successes + m * prior_successes / prior_trials) / (trials + m), m = feature_te_smoothing.
    Null only before the first impression of all (no prior). -#}
{% macro pit_target_encoding(successes, trials, prior_successes, prior_trials) -%}
  {%- set m = var('feature_te_smoothing') -%}
  {%- if m is not number or m <= 0 -%}
    {{ exceptions.raise_compiler_error("var feature_te_smoothing must be a positive number, got " ~ m) }}
  {%- endif -%}
    case when {{ prior_trials }} > 0 then
        (cast({{ successes }} as double) + {{ m }} * (cast({{ prior_successes }} as double) / {{ prior_trials }}))
        / ({{ trials }} + {{ m }})
    end
{%- endmacro %}


{#- Days from `start` to `point_ts` as a double, 0 where start is after the point. -#}
{% macro pit_days_since(start, point_ts) -%}
    case
        when {{ start }} is null or {{ point_ts }} is null then null
        when {{ start }} >= {{ point_ts }} then 0.0
        else cast({{ dbt.datediff(start, point_ts, 'microsecond') }} as double) / 86400000000
    end
{%- endmacro %}
