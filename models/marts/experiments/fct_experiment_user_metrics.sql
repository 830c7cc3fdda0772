-- One row per included user x experiment with the user's metrics in the metric window and
-- the pre-period covariates: the published face of int_experiments__user_metrics.
select * from {{ ref('int_experiments__user_metrics') }}
