"""Simulator configuration: one frozen dataclass and the named presets built from it.

Every knob a test or benchmark may want to turn lives here, so a test can build a smaller
world with ``dataclasses.replace(PRESETS["tiny"], ...)`` instead of patching code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

US_PER_S = 1_000_000
US_PER_HOUR = 3600 * US_PER_S
US_PER_DAY = 24 * US_PER_HOUR


@dataclass(frozen=True)
class SimConfig:
    """All parameters of a simulated world.

    Times are in UTC; the log covers ``pre_days`` of pre-period (CUPED covariates, no
    experiment running) followed by ``main_days`` of main window (experiments, drift, the
    broken partition).
    """

    preset: str = "default"
    start_date: str = "2026-09-01"
    pre_days: int = 14
    main_days: int = 30

    # World size and shape.
    n_users: int = 20_000
    n_items: int = 5_000
    latent_dim: int = 8
    n_categories: int = 20
    new_user_share: float = 0.15          # users signing up inside the log window
    cold_item_share: float = 0.08         # items created inside the main window (cold start)
    requests_per_user_day: float = 0.32   # mean of the per-user activity (gamma distributed)

    # Serving.
    n_candidates: int = 50                # C: retrieval candidates per request
    k: int = 10                           # K: items shown per request
    epsilon: float = 0.10                 # prod_v1 epsilon-greedy exploration
    explore_share: float = 0.03           # uniform_random slice of requests
    interleave_share: float = 0.03        # team-draft interleaving slice of requests
    shadow_share: float = 0.20            # share of prod_v1 requests scored by the challenger
    served_features_share: float = 1.0    # share of served requests whose features are logged
    candidate_log_share: float = 1.0      # share of served requests whose candidate set is logged
    fallback_rate: float = 0.01
    error_rate: float = 0.005
    prod_noise: float = 0.7               # sd of the production model's parameter error
    challenger_noise: float = 0.35        # challenger_v1 is the better estimate of attract

    # True behaviour.
    attract_base_logit: float = -1.6
    affinity_scale: float = 0.8
    examine_eta: float = 0.8              # examine(position) = position ** -eta
    purchase_base_logit: float = -2.6
    price_effect: float = 0.5             # purchase logit falls by this per log-unit of price
    click_fast_median_s: float = 12.0
    click_fast_sigma: float = 1.1
    click_slow_share: float = 0.02        # clicks that come much later (about half beyond W)
    click_slow_median_s: float = 1800.0
    click_slow_sigma: float = 0.5
    purchase_delay_shares: tuple[float, float, float] = (0.75, 0.20, 0.05)  # <1d, 1-7d, 7-14d
    # False: a world without delayed feedback, where a delay correction must change nothing:
    # every click within a minute of its impression, every purchase a second after its click.
    delayed_feedback: bool = True
    purchase_fast_median_h: float = 1.5
    purchase_fast_sigma: float = 1.0

    # Delivery (Kafka Connect arrival).
    delivery_mean_s: float = 20.0
    late_share: float = 0.005
    late_median_h: float = 8.0
    late_sigma: float = 1.0

    # Faults.
    bad_rate: float = 0.002
    dup_rate: float = 0.01
    conflicting_share: float = 0.2        # duplicates whose payload differs from the original
    second_copy_share: float = 0.1        # duplicated events delivered three times
    broken_main_day: int = 2              # impressions partition written with a broken schema
    broken_hour: int = 13

    # Experiments (run across the whole main window).
    treatment_attract_mult: float = 1.08
    treatment_purchase_mult: float = 1.05

    # Known injected skew and drift.
    skew_feature: str = "item_price"
    skew_device: str = "android"
    skew_factor: float = 100.0            # price served in cents instead of dollars
    drift_main_day: int = 15
    drift_category: str = "cat_07"
    drift_logit_shift: float = 0.8

    # Label rule (shared with the dbt vars).
    click_window_minutes: int = 30
    attribution_window_days: int = 7

    write_candidates: bool = True

    @property
    def n_days(self) -> int:
        """Days in the whole log (pre-period + main window)."""
        return self.pre_days + self.main_days

    @property
    def start_us(self) -> int:
        """Start of the log as microseconds since the Unix epoch."""
        return _epoch_us(self.start_date)

    @property
    def main_start_us(self) -> int:
        """Start of the main window (experiment start)."""
        return self.start_us + self.pre_days * US_PER_DAY

    @property
    def end_us(self) -> int:
        """End of the log (exclusive): nothing arriving later has landed."""
        return self.start_us + self.n_days * US_PER_DAY

    @property
    def broken_hour_us(self) -> int:
        """Start of the arrival hour whose impressions file has a broken schema."""
        return self.main_start_us + self.broken_main_day * US_PER_DAY + self.broken_hour * US_PER_HOUR

    @property
    def drift_start_us(self) -> int:
        """Moment the injected drift starts."""
        return self.main_start_us + self.drift_main_day * US_PER_DAY

    def dates(self) -> dict[str, str]:
        """Named dates of the log for world.json."""
        start = datetime.fromisoformat(self.start_date)
        day = lambda n: (start + timedelta(days=n)).date().isoformat()  # noqa: E731
        return {
            "start": day(0),
            "pre_period_end": day(self.pre_days - 1),
            "main_start": day(self.pre_days),
            "end": day(self.n_days - 1),
            "drift_start": day(self.pre_days + self.drift_main_day),
        }

    def to_dict(self) -> dict:
        """All parameters, JSON-ready, for world.json."""
        return asdict(self)


def _epoch_us(iso_date: str) -> int:
    """Microseconds since the epoch of midnight UTC of ``iso_date`` (no local-time leaks)."""
    return (datetime.fromisoformat(iso_date) - datetime(1970, 1, 1)).days * US_PER_DAY


PRESETS: dict[str, SimConfig] = {
    "tiny": SimConfig(
        preset="tiny", pre_days=2, main_days=6, n_users=300, n_items=200,
        requests_per_user_day=1.8, n_candidates=30, bad_rate=0.01, dup_rate=0.02,
        broken_main_day=1, drift_main_day=3,
    ),
    "default": SimConfig(),
    "large": SimConfig(
        preset="large", n_users=300_000, n_items=20_000, requests_per_user_day=0.42,
        served_features_share=0.25, candidate_log_share=0.02, write_candidates=False,
    ),
}


def get_preset(name: str, **overrides) -> SimConfig:
    """Return the named preset, optionally with some fields replaced."""
    return replace(PRESETS[name], **overrides)
