"""The static world: users and items with latent factors, content attributes and models.

Content is generated *from* the latent factors (category from the nearest category centroid,
brand and title words from the dominant factor dimensions, price from the category), so a
content-based embedding can recover part of the collaborative signal later. The production
model and the challenger are fixed noisy copies of the true parameters: a real model is a
function of (user, item), so its score must not be redrawn per impression.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from receval.simulate.batch import Batch, Cat
from receval.simulate.config import US_PER_DAY, SimConfig

COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "JP")
COUNTRY_P = (0.40, 0.12, 0.12, 0.08, 0.10, 0.12, 0.06)
DEVICES = ("ios", "android", "web")
DEVICE_P = (0.40, 0.35, 0.25)
NOUNS = ("shoes", "jacket", "lamp", "headphones", "novel", "mug", "backpack", "watch", "blender",
         "tent", "keyboard", "perfume", "sofa", "camera", "puzzle", "racket", "kettle",
         "scarf", "drone", "plant")
ADJECTIVES = ("classic", "modern", "compact", "premium", "rugged", "vintage", "smart", "eco")
TONES = ("black", "white", "red", "blue", "green", "grey", "gold", "pink")
BRAND_SYLLABLES = ("nor", "vex", "ala", "kin", "tor", "lum", "zen", "ori")


@dataclass
class Model:
    """A scoring model: ``sigmoid(user_vec . item_vec + item_bias)`` over fixed parameters."""

    user_vec: np.ndarray
    item_vec: np.ndarray
    item_bias: np.ndarray

    def logits(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Score logits for user indices ``users`` (n,) and item indices ``items`` (n, m)."""
        return np.einsum("nd,nmd->nm", self.user_vec[users], self.item_vec[items]) + self.item_bias[items]


@dataclass
class World:
    """Users (index u = user_id - 1) and items (index i = item_id - 1) with their truth."""

    user_vec: np.ndarray
    user_bias: np.ndarray
    user_activity: np.ndarray
    user_device: np.ndarray         # code into DEVICES
    user_country: np.ndarray        # code into COUNTRIES
    signup_at: np.ndarray           # us
    item_vec: np.ndarray
    item_bias: np.ndarray
    item_purchase_bias: np.ndarray
    item_category: np.ndarray       # code; name f"cat_{code:02d}"
    price: np.ndarray
    created_at: np.ndarray          # us
    brand: np.ndarray               # object array of str
    title: np.ndarray
    prod: Model
    challenger: Model
    n_categories: int

    @property
    def user_id(self) -> np.ndarray:
        return np.arange(1, len(self.user_bias) + 1, dtype=np.int64)

    @property
    def item_id(self) -> np.ndarray:
        return np.arange(1, len(self.item_bias) + 1, dtype=np.int64)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(f"cat_{c:02d}" for c in range(self.n_categories))


def _noisy_model(rng: np.random.Generator, vec_u, vec_i, bias_i, scale, noise) -> Model:
    """A model whose parameters are the truth plus Gaussian error of sd ``noise``."""
    n_u, n_i = len(vec_u), len(vec_i)
    d = vec_u.shape[1]
    return Model(
        (np.sqrt(scale) * vec_u + noise / np.sqrt(d) * rng.standard_normal((n_u, d))).astype(np.float32),
        (np.sqrt(scale) * vec_i + noise / np.sqrt(d) * rng.standard_normal((n_i, d))).astype(np.float32),
        (bias_i + noise * rng.standard_normal(n_i)).astype(np.float32),
    )


def build_world(cfg: SimConfig, rng: np.random.Generator) -> World:
    """Draw users, items, content attributes and the two scoring models."""
    d, n_u, n_i, n_c = cfg.latent_dim, cfg.n_users, cfg.n_items, cfg.n_categories
    centroids = rng.standard_normal((n_c, d))
    item_cat = rng.integers(0, n_c, n_i)
    item_vec = 0.8 * centroids[item_cat] + 0.6 * rng.standard_normal((n_i, d))
    user_taste = rng.integers(0, n_c, n_u)
    user_vec = 0.6 * centroids[user_taste] + 0.8 * rng.standard_normal((n_u, d))
    item_vec /= np.sqrt(d)
    user_vec /= np.sqrt(d) / 1.5

    cat_log_price = rng.normal(3.3, 0.7, n_c)
    price = np.round(np.exp(cat_log_price[item_cat] + 0.45 * rng.standard_normal(n_i)), 2) + 0.99
    item_bias = rng.normal(0.0, 0.6, n_i)

    start, main = cfg.start_us, cfg.main_start_us
    n_cold = int(round(cfg.cold_item_share * n_i))
    created_at = start - rng.integers(1, 365 * US_PER_DAY, n_i)
    cold = rng.permutation(n_i)[:n_cold]
    created_at[cold] = main + rng.integers(0, cfg.main_days * US_PER_DAY, n_cold)
    n_new = int(round(cfg.new_user_share * n_u))
    signup_at = start - rng.integers(1, 2 * 365 * US_PER_DAY, n_u)
    signup_at[rng.permutation(n_u)[:n_new]] = start + rng.integers(0, cfg.n_days * US_PER_DAY, n_new)

    # Content from the factors: the two strongest factor dims pick adjective and tone.
    top = np.argsort(-item_vec, axis=1)
    adjective = np.array(ADJECTIVES)[top[:, 0] % len(ADJECTIVES)]
    tone = np.array(TONES)[top[:, 1] % len(TONES)]
    noun = np.array(NOUNS * (n_c // len(NOUNS) + 1))[item_cat]
    brand_idx = item_cat * 4 + top[:, 0] % 4
    brand = np.array([BRAND_SYLLABLES[b % 8].title() + BRAND_SYLLABLES[(b // 8) % 8] for b in range(4 * n_c)],
                     dtype=object)[brand_idx]
    title = (brand.astype(str) + " " + adjective + " " + tone + " " + noun).astype(object)

    true_scale = cfg.affinity_scale
    return World(
        user_vec=user_vec, user_bias=rng.normal(0.0, 0.4, n_u),
        user_activity=rng.gamma(2.0, 0.5, n_u),
        user_device=rng.choice(len(DEVICES), n_u, p=DEVICE_P),
        user_country=rng.choice(len(COUNTRIES), n_u, p=COUNTRY_P),
        signup_at=signup_at,
        item_vec=item_vec, item_bias=item_bias, item_purchase_bias=rng.normal(0.0, 0.5, n_i),
        item_category=item_cat, price=price, created_at=created_at,
        brand=brand, title=title,
        prod=_noisy_model(rng, user_vec, item_vec, item_bias, true_scale, cfg.prod_noise),
        challenger=_noisy_model(rng, user_vec, item_vec, item_bias, true_scale, cfg.challenger_noise),
        n_categories=n_c,
    )


def dimension_batches(world: World, cfg: SimConfig, event_ids: np.ndarray,
                      delays: np.ndarray) -> dict[str, Batch]:
    """The users and items dimension events (one per entity, at creation or log start).

    ``event_ids`` and ``delays`` hold n_users + n_items values (users first): the caller
    owns the id counter and the random stream so that ordering stays fixed.
    """
    n_u = len(world.user_bias)
    u_ts = np.maximum(world.signup_at, cfg.start_us)
    i_ts = np.maximum(world.created_at, cfg.start_us)
    users = Batch({
        "event_id": event_ids[:n_u], "user_id": world.user_id, "ts": u_ts,
        "signup_at": world.signup_at,
        "country": Cat.of(COUNTRIES, world.user_country),
        "device": Cat.of(DEVICES, world.user_device),
    }, u_ts + delays[:n_u])
    items = Batch({
        "event_id": event_ids[n_u:], "item_id": world.item_id, "ts": i_ts,
        "category": Cat.of(world.categories, world.item_category),
        "price": world.price, "created_at": world.created_at,
        "brand": Cat.of(tuple(world.brand), np.arange(len(world.brand))),
        "title": Cat.of(tuple(world.title), np.arange(len(world.title))),
    }, i_ts + delays[n_u:])
    return {"users": users, "items": items}
