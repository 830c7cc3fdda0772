{#- The clicks of int_delayed__clicks made before the backtest's cut instant D, each as it
    stood at D: the input of fct_delayed_feedback_backtest, which corrects them as if D were
    the data's end and compares the result with their labels as they stand now.

    D is var delay_backtest_cut_date (a date: its midnight), or by default midnight of the
    data's end (int_labels__data_end.as_of) minus var delay_backtest_horizon_days. At D a
    click had converted when its first attributed purchase was made by D; delay_hours and
    elapsed_hours are those int_delayed__clicks would give with D as the data's end, with no
    cap needed: the purchase is made by D and after the click it is credited to, which is
    not before the first click, so 0 <= delay_hours <= elapsed_hours. The credit needs no
    recomputing either: a purchase made before D goes to the latest counted click before
    it, which is before D. is_converted_now is the label now, final where the impression's
    click and attribution windows have closed by the data's end (is_label_final, the
    labels' is_label_mature).

    Limitation: an event stamped before D counts as seen at D even when it landed after D
    (the landing delay: about 0.5% of the simulator's events arrive late, by hours). -#}
{{ config(materialized='table') }}

with cut as (
    select
        {% if var('delay_backtest_cut_date') -%}
        cast('{{ var("delay_backtest_cut_date") }}' as timestamp)
        {%- else -%}
        {{ dbt.dateadd('day', -var('delay_backtest_horizon_days'), dbt.cast(dbt.date_trunc('day', 'as_of'), 'timestamp')) }}
        {%- endif %} as cut_at
    from {{ ref('int_labels__data_end') }}
),

clicks as (
    select
        event_id, user_id, click_date, clicked_at, device, item_category, user_tenure,
        is_converted, purchased_at, delay_hours, is_label_mature
    from {{ ref('int_delayed__clicks') }}
)

select
    clicks.event_id,
    clicks.user_id,
    clicks.click_date,
    clicks.clicked_at,
    clicks.device,
    clicks.item_category,
    clicks.user_tenure,
    cut.cut_at,
    coalesce(clicks.purchased_at <= cut.cut_at, false) as is_converted,
    case when clicks.purchased_at <= cut.cut_at then clicks.delay_hours end as delay_hours,
    cast({{ dbt.datediff('clicks.clicked_at', 'cut.cut_at', 'second') }} as double) / 3600 as elapsed_hours,
    clicks.is_converted as is_converted_now,
    clicks.is_label_mature as is_label_final
from clicks
cross join cut
where clicks.clicked_at < cut.cut_at
