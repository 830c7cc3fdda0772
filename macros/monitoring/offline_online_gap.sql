{#- The metrics of fct_offline_online_gap (var monitoring_gap_metrics): for each, the figure
    every stage reports for it.
    The deltas stay as the source marts report them; the agreement flags compare which model
    each says is better: offline_higher_is_better orients the offline delta, the registry's
    higher_is_better the experiment's effect (a policy value and an interleaving preference
    are better when higher).
    - offline: fct_offline_metrics delta_<offline_metric> of offline_task on offline_split
      (segment all, whole split);
    - OPE: fct_policy_value_estimates, reward ope_reward (ope_corrected_reward where the
      mart has that cell: the delay-corrected purchases of a cell with labels still to
      come), estimator ope_estimator;
    - online: fct_experiment_results.metric = experiment_metric, and
      fct_interleaving_results.outcome = interleaving_outcome.
    A model's OPE target policy is <model_id><monitoring_gap_ope_policy_suffix> (the deterministic top-K
    ranking of its scores, int_cf__candidate_target_policies), else the policy named as the
    model (the logging policy's own on-policy row). -#}
{#- The gap metrics as rows (one select per metric, so the model joins them like a table). -#}
{% macro offline_online_gap_metric_rows() -%}
  {%- for m in var('monitoring_gap_metrics') %}
    select
        '{{ m.metric }}' as metric,
        '{{ m.offline_task }}' as offline_task,
        '{{ m.offline_metric }}' as offline_metric,
        {{ 1 if m.offline_higher_is_better else -1 }} as offline_direction,
        '{{ m.offline_split }}' as offline_split,
        '{{ m.ope_reward }}' as ope_reward,
        {{ "'" ~ m.ope_corrected_reward ~ "'" if m.ope_corrected_reward else "cast(null as " ~ dbt.type_string() ~ ")" }} as ope_corrected_reward,
        '{{ m.ope_estimator }}' as ope_estimator,
        '{{ m.experiment_metric }}' as experiment_metric,
        '{{ m.interleaving_outcome }}' as interleaving_outcome
    {% if not loop.last %}union all{% endif %}
  {%- endfor %}
{%- endmacro %}
