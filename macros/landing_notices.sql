{#- What the landing zone holds, told once at the end of every build (on-run-end): one line
    per family of marts whose inputs it lacks (the marts, and the entity or column), and a
    warning per entity whose files carry columns outside the contract (ignored). A family
    without its inputs still builds, empty or partial: nothing fails for data that is not
    there. -#}

{% macro receval_families() -%}
  {#- Each family's marts and what they need: an entity, or entity.column (a populated
      optional column). Every missing need is reported, '; '-separated. -#}
  {{ return([
      {'family': 'purchase labels and conversion metrics',
       'marts': ['fct_impression_labels (is_converted, revenue)', 'fct_offline_metrics (conversion task)',
                 'fct_policy_value_estimates (purchase, revenue)'],
       'needs': ['conversions']},
      {'family': 'delayed conversion feedback',
       'marts': ['fct_conversion_delay', 'fct_cvr_by_day', 'fct_delayed_feedback_backtest'],
       'needs': ['conversions']},
      {'family': 'experiments',
       'marts': ['fct_experiment_exposures', 'fct_experiment_user_metrics', 'fct_experiment_results',
                 'fct_srm_checks', 'fct_guardrail_checks', 'fct_bandit_allocations', 'rpt_experiment_scorecard',
                 'fct_aa_calibration'],
       'needs': ['assignments', 'requests']},
      {'family': 'interleaving', 'marts': ['fct_interleaving_results'], 'needs': ['impressions.team']},
      {'family': 'shadow comparison', 'marts': ['fct_shadow_comparison', 'fct_offline_metrics (shadow rows)'],
       'needs': ['shadow_scores']},
      {'family': 'training/serving skew', 'marts': ['fct_feature_skew', 'fct_feature_drift (served rows)'],
       'needs': ['served_features']},
      {'family': 'served-score monitoring',
       'marts': ['fct_prediction_drift', 'fct_online_auc', 'fct_performance_estimate'], 'needs': ['impressions.score']},
      {'family': 'serving health', 'marts': ['fct_serving_health'], 'needs': ['requests']},
      {'family': 'served-score offline metrics', 'marts': ['fct_offline_metrics (served rows)', 'fct_reliability_bins (served rows)'],
       'needs': ['impressions.score']},
      {'family': 'off-policy estimates from logged propensities',
       'marts': ['fct_policy_value_estimates', 'fct_propensity_diagnostics'], 'needs': ['impressions.propensity']},
      {'family': 'candidate-set target policies', 'marts': ['fct_policy_value_estimates (candidate-model policies)'],
       'needs': ['candidates']},
      {'family': 'segments and request features',
       'marts': ['fct_offline_metrics (device segments)', 'int_features__impressions (request features)'],
       'needs': ['requests']},
      {'family': 'item content and freshness',
       'marts': ['dim_items (derived from impressions)', 'int_features__item_content', 'fct_offline_metrics (category, freshness)'],
       'needs': ['items']},
      {'family': 'user attributes', 'marts': ['dim_users (derived from impressions)', 'fct_offline_metrics (user tenure)'],
       'needs': ['users']},
  ]) }}
{%- endmacro %}


{% macro landing_notices() -%}
  {%- if not execute or flags.WHICH not in ('build', 'run') -%}{{ return('') }}{%- endif -%}
  {%- set relations = {} -%}
  {%- for name in ['stg_landing__row_counts', 'base_landing__files', 'stg_landing__impressions'] -%}
    {%- do relations.update({name: adapter.get_relation(target.database, target.schema, name)}) -%}
  {%- endfor -%}
  {#- a build that selected around the landing models has nothing to tell -#}
  {%- if none in relations.values() -%}{{ return('') }}{%- endif -%}

  {%- set kept = {} -%}
  {%- for row in run_query('select entity, sum(kept_rows) from ' ~ relations.stg_landing__row_counts ~ ' group by entity') -%}
    {%- do kept.update({row[0]: row[1] | int}) -%}
  {%- endfor -%}
  {%- set counted = run_query('select count(score), count(propensity), count(team) from ' ~ relations.stg_landing__impressions).rows[0] -%}
  {%- set populated = {'impressions.score': counted[0] > 0, 'impressions.propensity': counted[1] > 0,
                       'impressions.team': counted[2] > 0} -%}

  {%- for family in receval_families() -%}
    {%- set reasons = [] -%}
    {%- for need in family.needs -%}
      {%- if '.' in need and not populated[need] -%}
        {%- do reasons.append('no row populates ' ~ need) -%}
      {%- elif '.' not in need and kept.get(need, 0) == 0 -%}
        {%- do reasons.append('the landing zone has no ' ~ need ~ (' files' if landing_is_absent(need) else ' rows')) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- if reasons -%}
      {{ log('receval: ' ~ family.family ~ ' empty or partial (' ~ family.marts | join(', ') ~ '): ' ~ reasons | join('; '), info=true) }}
    {%- endif -%}
  {%- endfor -%}

  {%- for row in run_query('select entity, extra_columns, count(*) from ' ~ relations.base_landing__files
                           ~ ' where extra_columns is not null group by entity, extra_columns order by 1, 2') -%}
    {{ exceptions.warn('receval: ' ~ row[2] ~ ' ' ~ row[0] ~ ' file(s) carry columns outside the contract, ignored: ' ~ row[1]) }}
  {%- endfor -%}
  {{ return('') }}
{%- endmacro %}
