r"""Multi-gate mixture-of-experts (MMoE) candidate model: pCTR and pCTCVR from one network.

Architecture (Ma et al. 2018, "Modeling Task Relationships in Multi-task Learning with
Multi-gate Mixture-of-Experts"): one embedding table per categorical column, concatenated
with the dense features, feeds ``n_experts`` MLP experts; each task has its own softmax gate
over the experts (gates see the same input) and its own tower.

With ``interactions`` (the default) the expert input also carries the pairwise dot products
of the field vectors -- every categorical embedding plus a linear projection of the dense
features -- as in DLRM (Naumov et al. 2019). User-item affinity is a dot product of latent
factors, which an MLP on concatenated embeddings learns only slowly (Rendle et al. 2020);
the explicit dots hand it over directly, and the projected dense field lets a user's
embedding interact with an item's content embedding (cold-start items).

Conversion is trained ESMM-style (Ma et al. 2018, "Entire Space Multi-Task Model"). The
evaluation target is :math:`P(\text{purchase} \mid \text{impression})` over *all*
impressions, while a purchase is only observed after a click. A CVR model trained on clicked
rows alone suffers sample-selection bias (it is trained on clicked rows but scored on every
impression) and data sparsity (clicks are a few percent of impressions). ESMM instead lets
the conversion tower output :math:`p_{CVR} = P(\text{purchase} \mid \text{click})`, forms

.. math::

    p_{CTCVR} = p_{CTR} \cdot p_{CVR},

and trains :math:`p_{CTCVR}` with binary cross-entropy against the impression-level purchase
label on every impression, so both towers learn from the whole impression space. The
conversion loss is weighted by ``conversion_weight``: labels that are not yet mature (a
purchase may still arrive) do not count. Losses are computed from logits :math:`a, b` of the
two towers: :math:`\log p_{CTCVR} = \log\sigma(a) + \log\sigma(b)` and
:math:`\log(1 - p_{CTCVR}) = \log p_{CTCVR} + \operatorname{logsumexp}(-a, -b, -a-b)`,
both finite for any logits.

Delayed feedback (``conversion_loss``, :mod:`receval.models.delayed_feedback`): the ESMM
structure stays, and the pCTCVR cross-entropy becomes importance-weighted. ``esmm_fnw``
(fake-negative weighting, Ktena et al. 2019) enters every row as a negative and a converted
row also as a positive, weighted by :math:`1 + p` and :math:`(1 - p)(1 + p)` with
:math:`p` the batch's own pCTCVR, gradient stopped. ``esmm_esdfm`` (ES-DFM, Yang et al.
2021) takes fixed per-row positive and negative weights and sample counts from
``FeatureMatrix.conversion_targets``. Either loss is the weighted sum over the batch divided
by the samples it stands for.

Negative sampling (:mod:`receval.models.sampling`): where the training rows carry a
``sample_weight``, it multiplies every row's click and conversion terms (the click BCE
becomes a weighted mean), so the loss is unbiased for the loss on all rows.

Training (:func:`train_mmoe`) is seeded and deterministic on the CPU, uses mini-batch Adam,
and stops early on the validation loss (click BCE plus the conversion BCE: weighted by
``conversion_weight`` for ``esmm`` and ``esmm_fnw`` -- FNW validates on the labels as
observed, since its weights move with the model being judged -- and ES-DFM's fixed
importance weights for ``esmm_esdfm``), keeping the best epoch's weights. Independent of
dbt: inputs are :class:`~receval.models.features.FeatureMatrix`.

References
----------
Ma, J., Zhao, Z., Yi, X., Chen, J., Hong, L., Chi, E. H. (2018). Modeling task
relationships in multi-task learning with multi-gate mixture-of-experts. KDD 2018.
Ma, X., Zhao, L., Huang, G., Wang, Z., Hu, Z., Zhu, X., Gai, K. (2018). Entire space
multi-task model: an effective approach for estimating post-click conversion rate.
SIGIR 2018.
Ktena, S. I. et al. (2019). Addressing delayed feedback for continuous training with neural
networks in CTR prediction. RecSys 2019.
Yang, J.-Q. et al. (2021). Capturing delayed feedback in conversion rate prediction via
elapsed-time sampling. AAAI 2021.
Naumov, M. et al. (2019). Deep learning recommendation model for personalization and
recommendation systems. arXiv:1906.00091.
Rendle, S., Krichene, W., Zhang, L., Anderson, J. (2020). Neural collaborative filtering
vs. matrix factorization revisited. RecSys 2020.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from receval.models import _esmm_losses as esmm
from receval.models.delayed_feedback import ConversionTargets, fnw_targets
from receval.models.features import FeatureMatrix

__all__ = ["MMoEParams", "MMoENetwork", "TrainedMMoE", "train_mmoe", "WEIGHTS_FILE", "CONFIG_FILE"]

WEIGHTS_FILE = "mmoe_weights.pt"
CONFIG_FILE = "mmoe_config.json"
_FORMAT = "receval.mmoe/1"
_CONVERSION_LOSSES = ("esmm", "esmm_fnw", "esmm_esdfm")
# Scoring needs no gradients, so a larger batch only costs activation memory.
_EVAL_BATCH = 65536


@dataclass(frozen=True)
class MMoEParams:
    """Hyperparameters of the MMoE, validated on construction.

    Parameters
    ----------
    embedding_dim : int, default 16
        Width of every categorical embedding.
    n_experts : int, default 4
        Number of shared experts.
    expert_hidden : tuple of int, default (64,)
        Hidden layer widths of each expert MLP (may be empty).
    expert_dim : int, default 32
        Output width of each expert.
    tower_hidden : tuple of int, default (32,)
        Hidden layer widths of each task tower (may be empty).
    dropout : float, default 0.0
        Dropout after every hidden layer, in [0, 1).
    learning_rate : float, default 2e-3
        Adam step size.
    weight_decay : float, default 1e-4
        Adam L2 penalty (applied to every parameter, embeddings included). ID embeddings
        overfit after one or two epochs without it; on the default world 1e-4 gave the best
        validation AUC of 1e-6, 1e-5 and 1e-4.
    batch_size : int, default 4096
        Training mini-batch size.
    max_epochs : int, default 20
        Upper bound on passes over the training rows.
    patience : int, default 1
        Stop after this many epochs without a lower validation loss. Each epoch costs a pass
        over every training row (about 14 s on the default world); 2 gave the same best epoch
        on the default and tiny worlds, one epoch later.
    seed : int, default 0
        Seeds the initial weights, dropout and the shuffling.
    threads : int, default 2
        Torch intra-op threads while training and scoring (restored afterwards). Where other
        processes share the cores, OpenMP's spin-waiting can make 2 threads several times
        slower than 1: use 1 there, or start Python with ``OMP_WAIT_POLICY=PASSIVE``.
    fp16_embeddings : bool, default False
        Store the embedding tables as float16 on :meth:`TrainedMMoE.save` (halves their
        size; they are cast back to float32 on load).
    conversion_loss : {"esmm", "esmm_fnw", "esmm_esdfm"}, default "esmm"
        How the pCTCVR cross-entropy weighs its rows (see the module docstring): ``esmm`` by
        ``conversion_weight``; ``esmm_fnw`` with fake-negative weighting; ``esmm_esdfm`` with
        the ES-DFM targets of ``FeatureMatrix.conversion_targets``. The candidate models
        set it from ``conversion_labels`` (the var ``model_conversion_labels``).
    interactions : bool, default True
        Add the pairwise dot products of the field vectors to the expert input (DLRM-style).
    negative_sample_rate : float, default 1.0
        Train on every clicked row and this share of the others, weighted by its inverse
        (:mod:`receval.models.sampling`; read by :func:`receval.models.training.train_candidate`).
        Off by default: on the default world 0.25 cost 0.007 of conversion AUC on the test
        split, 0.5 cost 0.004 (docs/candidate_models.md, "Negative sampling").
    negative_sample_min : int, default 200_000
        Keep at least this many unclicked rows (the rate rises as far as 1).
    """

    embedding_dim: int = 16
    n_experts: int = 4
    expert_hidden: tuple[int, ...] = (64,)
    expert_dim: int = 32
    tower_hidden: tuple[int, ...] = (32,)
    dropout: float = 0.0
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 4096
    max_epochs: int = 20
    patience: int = 1
    seed: int = 0
    threads: int = 2
    fp16_embeddings: bool = False
    conversion_loss: str = "esmm"
    interactions: bool = True
    negative_sample_rate: float = 1.0
    negative_sample_min: int = 200_000

    def __post_init__(self) -> None:
        for name in ("embedding_dim", "n_experts", "expert_dim", "batch_size", "max_epochs",
                     "patience", "threads"):
            _check_int(getattr(self, name), name, minimum=1)
        _check_int(self.seed, "seed", minimum=0)
        # JSON gives lists back: store tuples so the dataclass stays hashable and comparable
        for name in ("expert_hidden", "tower_hidden"):
            widths = getattr(self, name)
            if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
                raise ValueError(f"{name} must be a sequence of positive ints, got {widths!r}")
            for width in widths:
                _check_int(width, f"every width in {name}", minimum=1)
            object.__setattr__(self, name, tuple(int(w) for w in widths))
        _check_real(self.dropout, "dropout")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        _check_real(self.learning_rate, "learning_rate")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        _check_real(self.weight_decay, "weight_decay")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        for name in ("fp16_embeddings", "interactions"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.conversion_loss not in _CONVERSION_LOSSES:
            raise ValueError(
                f"conversion_loss must be one of {_CONVERSION_LOSSES}, got {self.conversion_loss!r}")
        _check_int(self.negative_sample_min, "negative_sample_min", minimum=0)
        _check_real(self.negative_sample_rate, "negative_sample_rate")
        if not 0 < self.negative_sample_rate <= 1:
            raise ValueError(f"negative_sample_rate must be in (0, 1], got {self.negative_sample_rate!r}")


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_real(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _mlp(width_in: int, hidden: tuple[int, ...], dropout: float) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(width_in, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width_in = width
    return layers, width_in


class MMoENetwork(nn.Module):
    r"""Embeddings -> experts -> per-task softmax gates -> click and conversion towers.

    Parameters
    ----------
    cardinalities : sequence of int
        Embedding table size per categorical column (code 0 = missing/unseen).
    n_dense : int
        Number of dense input columns.
    params : MMoEParams
        Architecture hyperparameters.

    Notes
    -----
    :meth:`forward` returns the two towers' logits: ``a`` (click, :math:`\sigma(a) = p_{CTR}`)
    and ``b`` (conversion given click, :math:`\sigma(b) = p_{CVR}`).
    """

    def __init__(self, cardinalities: Sequence[int], n_dense: int, params: MMoEParams) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(int(c), params.embedding_dim) for c in cardinalities)
        for table in self.embeddings:
            # small init, as usual for ID embeddings; row 0 (missing/unseen) starts neutral
            nn.init.normal_(table.weight, std=0.01)
            with torch.no_grad():
                table.weight[0].zero_()
        width_in = len(cardinalities) * params.embedding_dim + n_dense
        if params.interactions:
            # the dense features become one more field vector for the dot products
            self.dense_field = nn.Linear(n_dense, params.embedding_dim)
            n_fields = len(cardinalities) + 1
            pairs = torch.triu_indices(n_fields, n_fields, offset=1)
            self.register_buffer("pairs", pairs, persistent=False)
            width_in += pairs.shape[1]
        else:
            self.dense_field = None

        def expert() -> nn.Sequential:
            layers, width = _mlp(width_in, params.expert_hidden, params.dropout)
            return nn.Sequential(*layers, nn.Linear(width, params.expert_dim), nn.ReLU())

        def tower() -> nn.Sequential:
            layers, width = _mlp(params.expert_dim, params.tower_hidden, params.dropout)
            return nn.Sequential(*layers, nn.Linear(width, 1))

        self.experts = nn.ModuleList(expert() for _ in range(params.n_experts))
        self.gates = nn.ModuleList(nn.Linear(width_in, params.n_experts) for _ in range(2))
        self.towers = nn.ModuleList(tower() for _ in range(2))

    def forward(self, categorical: torch.Tensor, dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fields = [table(categorical[:, j]) for j, table in enumerate(self.embeddings)]
        parts = fields + [dense]
        if self.dense_field is not None:
            vectors = torch.stack(fields + [self.dense_field(dense)], dim=1)  # (batch, n_fields, dim)
            dots = torch.bmm(vectors, vectors.transpose(1, 2))
            parts.append(dots[:, self.pairs[0], self.pairs[1]])
        x = torch.cat(parts, dim=1)
        experts = torch.stack([e(x) for e in self.experts], dim=1)  # (batch, n_experts, expert_dim)
        logits = []
        for gate, tower in zip(self.gates, self.towers):
            weights = torch.softmax(gate(x), dim=1).unsqueeze(2)  # (batch, n_experts, 1)
            # broadcast-and-sum: much faster on the CPU than a bmm over tiny matrices
            logits.append(tower((weights * experts).sum(dim=1)).squeeze(1))
        return logits[0], logits[1]


@dataclass
class _Tensors:
    categorical: torch.Tensor
    dense: torch.Tensor
    click: torch.Tensor | None
    conversion: torch.Tensor | None
    weight: torch.Tensor | None  # the conversion loss's: maturity x sample weight
    click_weight: torch.Tensor | None = None  # the click loss's: the sample weight
    # the conversion samples of the weighted losses (esmm_fnw: FNW's stream; esmm_esdfm: the targets)
    positive: torch.Tensor | None = None
    negative: torch.Tensor | None = None
    count: torch.Tensor | None = None

    @classmethod
    def of(cls, matrix: FeatureMatrix, labels: bool, conversion_loss: str = "esmm") -> "_Tensors":
        def tensor(array, dtype):
            array = np.ascontiguousarray(array, dtype=dtype)
            # torch.from_numpy shares memory and warns on read-only arrays
            return torch.from_numpy(array if array.flags.writeable else array.copy())

        if not labels:
            return cls(tensor(matrix.categorical, np.int64), tensor(matrix.dense, np.float32), None, None, None)
        ones = np.ones(len(matrix), np.float32)
        sample = ones if matrix.sample_weight is None else matrix.sample_weight
        maturity = ones if matrix.conversion_weight is None else matrix.conversion_weight
        data = cls(tensor(matrix.categorical, np.int64), tensor(matrix.dense, np.float32),
                   tensor(matrix.click, np.float32), tensor(matrix.conversion, np.float32),
                   tensor(maturity * sample, np.float32), click_weight=tensor(sample, np.float32))
        if conversion_loss == "esmm":
            return data
        targets = (fnw_targets(matrix.conversion, maturity) if conversion_loss == "esmm_fnw"
                   else matrix.conversion_targets)
        return replace(data, positive=tensor(targets.positive * sample, np.float32),
                       negative=tensor(targets.negative * sample, np.float32),
                       count=tensor(targets.count * sample, np.float32))

    def without_conversion(self) -> "_Tensors":
        """The same rows with every conversion weight 0 (new tensors: the weights may share
        memory with the caller's arrays)."""
        zero = {name: torch.zeros_like(getattr(self, name))
                for name in ("weight", "positive", "negative", "count") if getattr(self, name) is not None}
        return replace(self, **zero)

    def losses(self, a: torch.Tensor, b: torch.Tensor, rows, conversion_loss: str,
               training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The click and conversion losses of ``rows``: for training, or (``training``
        False) the validation loss early stopping compares, where FNW uses the labels as
        observed (its weights move with the model being judged)."""
        if conversion_loss == "esmm" or (conversion_loss == "esmm_fnw" and not training):
            return esmm.losses(a, b, self.click[rows], self.click_weight[rows], self.conversion[rows],
                               self.weight[rows])
        return esmm.weighted_losses(a, b, self.click[rows], self.click_weight[rows], self.positive[rows],
                                    self.negative[rows],
                                    self.count[rows], fnw=conversion_loss == "esmm_fnw")


def _batches(n: int, batch_size: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor | slice]:
    for start in range(0, n, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start:start + batch_size]


def _logits(network: MMoENetwork, data: _Tensors, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    network.eval()
    with torch.inference_mode():
        parts = [network(data.categorical[rows], data.dense[rows])
                 for rows in _batches(len(data.dense), batch_size)]
    if not parts:
        return torch.empty(0), torch.empty(0)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    # undefined (None) when the rows hold a single class
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


def _evaluate(network: MMoENetwork, data: _Tensors, batch_size: int, loss: str = "esmm") -> dict[str, float | None]:
    a, b = _logits(network, data, batch_size)
    click_loss, conversion_loss = data.losses(a, b, slice(None), loss, training=False)
    mature = data.weight.numpy() > 0
    p_ctcvr = (F.logsigmoid(a) + F.logsigmoid(b)).numpy()
    return {
        "loss": float(click_loss + conversion_loss),
        "click_loss": float(click_loss),
        "conversion_loss": float(conversion_loss),
        "auc_click": _auc(data.click.numpy(), a.numpy()),
        "auc_conversion": _auc(data.conversion.numpy()[mature], p_ctcvr[mature]),
    }


@contextlib.contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """Deterministic algorithms and ``threads`` intra-op threads, restored on exit."""
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    old_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_deterministic, warn_only=old_warn_only)
        torch.set_num_threads(old_threads)


def _check_cardinalities(cardinalities: Sequence[int]) -> tuple[int, ...]:
    cards = tuple(cardinalities)
    if not cards:
        raise ValueError("cardinalities must name at least one categorical column")
    for c in cards:
        _check_int(c, "every cardinality", minimum=1)
    return tuple(int(c) for c in cards)


def _check_matrix(matrix: FeatureMatrix, name: str, cardinalities: tuple[int, ...],
                  n_dense: int | None, labels: bool, conversion_loss: str = "esmm") -> int:
    """Check shapes, code ranges and (where ``labels``) the labels and the conversion
    targets ``conversion_loss`` needs; return ``n_dense``."""
    cat, dense = np.asarray(matrix.categorical), np.asarray(matrix.dense)
    if cat.ndim != 2 or cat.shape[1] != len(cardinalities):
        raise ValueError(f"{name}.categorical must have shape (n, {len(cardinalities)}) "
                         f"(one column per cardinality), got {cat.shape}")
    if not np.issubdtype(cat.dtype, np.integer):
        raise ValueError(f"{name}.categorical must hold integer codes, got dtype {cat.dtype}")
    if dense.ndim != 2 or len(dense) != len(cat):
        raise ValueError(f"{name}.dense must have shape ({len(cat)}, n_dense), got {dense.shape}")
    if n_dense is not None and dense.shape[1] != n_dense:
        raise ValueError(f"{name}.dense has {dense.shape[1]} columns; the model has {n_dense}")
    if len(cat):
        low, high = cat.min(axis=0), cat.max(axis=0)
        bad = [j for j, c in enumerate(cardinalities) if low[j] < 0 or high[j] >= c]
        if bad:
            j = bad[0]
            raise ValueError(f"{name}.categorical column {j} has codes in [{low[j]}, {high[j]}] "
                             f"outside [0, {cardinalities[j]}) (cardinality {cardinalities[j]}): "
                             f"encode with the encoder whose cardinalities the model was built on")
    if labels:
        if len(cat) == 0:
            raise ValueError(f"{name} has no rows")
        for label in ("click", "conversion"):
            values = getattr(matrix, label)
            if values is None:
                raise ValueError(f"{name}.{label} labels are required")
            values = np.asarray(values)
            if values.shape != (len(cat),) or not np.isin(values, (0, 1)).all():
                raise ValueError(f"{name}.{label} must be {len(cat)} labels in {{0, 1}}")
        weight = matrix.conversion_weight
        if weight is not None:
            weight = np.asarray(weight)
            if weight.shape != (len(cat),) or not (np.isfinite(weight).all() and (weight >= 0).all()):
                raise ValueError(f"{name}.conversion_weight must be {len(cat)} finite weights >= 0")
        if conversion_loss == "esmm_esdfm":
            targets = matrix.conversion_targets
            if not isinstance(targets, ConversionTargets):
                raise ValueError(f"conversion_loss 'esmm_esdfm' needs {name}.conversion_targets (ES-DFM's "
                                 "weighted samples: receval.models.delayed_feedback.EsdfmAuxiliary.targets)")
            if len(targets) != len(cat):
                raise ValueError(f"{name}.conversion_targets has {len(targets)} rows, the matrix {len(cat)}")
    return dense.shape[1]


@dataclass
class TrainedMMoE:
    """A trained MMoE with what is needed to score, save and warm-start from it.

    Attributes
    ----------
    network : MMoENetwork
        The module, holding the best epoch's weights.
    params : MMoEParams
        Hyperparameters it was trained with.
    cardinalities : tuple of int
        Embedding table sizes (from ``FeatureEncoder.cardinalities``).
    n_dense : int
        Number of dense input columns.
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``valid_loss``,
        ``valid_click_loss``, ``valid_conversion_loss``, ``valid_auc_click``,
        ``valid_auc_conversion`` (on rows with a mature conversion label), ``seconds``.
        Epoch 0 scores the initial weights (random, or ``init_from``'s) and has no train loss.
    best_epoch : int
        Epoch whose weights were kept (lowest validation loss); 0 = the initial weights.
    """

    network: MMoENetwork
    params: MMoEParams
    cardinalities: tuple[int, ...]
    n_dense: int
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0

    def predict(self, matrix: FeatureMatrix, batch_size: int = _EVAL_BATCH) -> dict[str, np.ndarray]:
        """Score ``matrix``: ``{"click": pCTR, "conversion": pCTCVR}``, float64 arrays of shape (n,)."""
        _check_int(batch_size, "batch_size", minimum=1)
        _check_matrix(matrix, "matrix", self.cardinalities, self.n_dense, labels=False)
        with _torch_settings(self.params.threads):
            a, b = _logits(self.network, _Tensors.of(matrix, labels=False), batch_size)
        p_click = torch.sigmoid(a.double())
        # pCTR * pCVR in float64: the product of a probability never rounds above pCTR
        return {"click": p_click.numpy(), "conversion": (p_click * torch.sigmoid(b.double())).numpy()}

    def evaluate(self, matrix: FeatureMatrix, batch_size: int = _EVAL_BATCH) -> dict[str, float | None]:
        """Losses and AUCs on labelled rows, as :attr:`history` reports them for validation
        (with ``esmm_esdfm``, ``matrix`` needs its ``conversion_targets``).

        Returns ``loss`` (= ``click_loss + conversion_loss``), ``click_loss``,
        ``conversion_loss``, ``auc_click`` and ``auc_conversion`` (None where undefined).
        """
        _check_int(batch_size, "batch_size", minimum=1)
        loss = self.params.conversion_loss
        _check_matrix(matrix, "matrix", self.cardinalities, self.n_dense, labels=True, conversion_loss=loss)
        with _torch_settings(self.params.threads):
            return _evaluate(self.network, _Tensors.of(matrix, labels=True, conversion_loss=loss), batch_size, loss)

    def save(self, directory: str | Path) -> Path:
        """Write :data:`WEIGHTS_FILE` (state_dict) and :data:`CONFIG_FILE` (JSON) to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = self.network.state_dict()
        if self.params.fp16_embeddings:
            state = {name: t.half() if name.startswith("embeddings.") else t for name, t in state.items()}
        torch.save(state, directory / WEIGHTS_FILE)
        config = {"format": _FORMAT, "params": asdict(self.params), "cardinalities": list(self.cardinalities),
                  "n_dense": self.n_dense, "best_epoch": self.best_epoch, "history": self.history}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "TrainedMMoE":
        """Restore a model written by :meth:`save` (float16 tables come back as float32)."""
        directory = Path(directory)
        config = json.loads((directory / CONFIG_FILE).read_text())
        if config.get("format") != _FORMAT:
            raise ValueError(f"{directory / CONFIG_FILE} is not a {_FORMAT} config (format {config.get('format')!r})")
        params = MMoEParams(**config["params"])
        cardinalities = _check_cardinalities(config["cardinalities"])
        network = MMoENetwork(cardinalities, config["n_dense"], params)
        state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        network.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in state.items()})
        return cls(network, params, cardinalities, config["n_dense"], config["history"], config["best_epoch"])


def train_mmoe(train: FeatureMatrix, valid: FeatureMatrix, cardinalities: Sequence[int],
               params: MMoEParams = MMoEParams(), init_from: TrainedMMoE | None = None,
               with_conversion: bool = True) -> TrainedMMoE:
    """Train an MMoE on ``train``, stopping early on ``valid``.

    Parameters
    ----------
    train, valid : FeatureMatrix
        Encoded rows with ``click`` and ``conversion`` labels; ``conversion_weight`` None
        means every conversion label is mature. With ``params.conversion_loss`` =
        ``esmm_esdfm`` both need their ``conversion_targets``.
    cardinalities : sequence of int
        Embedding table size per categorical column (``FeatureEncoder.cardinalities``).
    params : MMoEParams, optional
        Hyperparameters.
    init_from : TrainedMMoE, optional
        Warm start: begin from this model's weights (it is not modified). It must have the
        same cardinalities, number of dense columns and architecture.
    with_conversion : bool, default True
        False for data without purchases: every conversion weight is 0, so the conversion
        tower gets no gradient and the loss is the click BCE alone.

    Returns
    -------
    TrainedMMoE
        Holding the weights of the epoch with the lowest validation loss, where the loss is
        click BCE + conversion-weighted pCTCVR BCE (both means over rows; for
        ``esmm_esdfm`` the importance-weighted mean over ES-DFM's samples, for ``esmm_fnw``
        the labels as observed).

    Raises
    ------
    ValueError
        On malformed inputs, or an ``init_from`` whose shapes differ from this model's.
    """
    if not isinstance(params, MMoEParams):
        raise ValueError(f"params must be an MMoEParams, got {type(params).__name__}")
    cardinalities = _check_cardinalities(cardinalities)
    loss = params.conversion_loss
    n_dense = _check_matrix(train, "train", cardinalities, None, labels=True, conversion_loss=loss)
    _check_matrix(valid, "valid", cardinalities, n_dense, labels=True, conversion_loss=loss)
    train_data = _Tensors.of(train, labels=True, conversion_loss=loss)
    valid_data = _Tensors.of(valid, labels=True, conversion_loss=loss)
    if not with_conversion:
        train_data, valid_data = train_data.without_conversion(), valid_data.without_conversion()
    elif not train_data.weight.sum() > 0:
        raise ValueError("train has no mature conversion labels (conversion_weight is 0 everywhere)")
    elif train_data.count is not None and not train_data.count.sum() > 0:
        raise ValueError("train has no conversion sample (conversion_targets.count is 0 everywhere)")

    # fork_rng: seeding for this run must not reset the caller's global torch RNG
    with _torch_settings(params.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        network = MMoENetwork(cardinalities, n_dense, params)
        if init_from is not None:
            _warm_start(network, init_from, cardinalities, n_dense)
        shuffle = torch.Generator().manual_seed(params.seed)
        optimizer = torch.optim.Adam(network.parameters(), lr=params.learning_rate,
                                     weight_decay=params.weight_decay)
        n = len(train_data.dense)

        start = time.perf_counter()
        history = [_history_row(0, None, _evaluate(network, valid_data, _EVAL_BATCH, loss), start)]
        best_loss, best_epoch, best_state = history[0]["valid_loss"], 0, _snapshot(network)
        stale = 0
        for epoch in range(1, params.max_epochs + 1):
            start = time.perf_counter()
            network.train()
            total = 0.0
            for rows in _batches(n, params.batch_size, torch.randperm(n, generator=shuffle)):
                a, b = network(train_data.categorical[rows], train_data.dense[rows])
                click_loss, conversion_loss = train_data.losses(a, b, rows, loss, training=True)
                batch_loss = click_loss + conversion_loss
                optimizer.zero_grad(set_to_none=True)
                batch_loss.backward()
                optimizer.step()
                total += batch_loss.item() * len(rows)
            metrics = _evaluate(network, valid_data, _EVAL_BATCH, loss)
            history.append(_history_row(epoch, total / n, metrics, start))
            if metrics["loss"] < best_loss:
                best_loss, best_epoch, best_state, stale = metrics["loss"], epoch, _snapshot(network), 0
            else:
                stale += 1
                if stale >= params.patience:
                    break
        network.load_state_dict(best_state)
    network.eval()
    return TrainedMMoE(network, params, cardinalities, n_dense, history, best_epoch)


def _history_row(epoch: int, train_loss: float | None, metrics: dict, start: float) -> dict:
    return {"epoch": epoch, "train_loss": train_loss, "valid_loss": metrics["loss"],
            "valid_click_loss": metrics["click_loss"], "valid_conversion_loss": metrics["conversion_loss"],
            "valid_auc_click": metrics["auc_click"], "valid_auc_conversion": metrics["auc_conversion"],
            "seconds": time.perf_counter() - start}


def _snapshot(network: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}


def _warm_start(network: MMoENetwork, source: TrainedMMoE, cardinalities: tuple[int, ...], n_dense: int) -> None:
    if not isinstance(source, TrainedMMoE):
        raise ValueError(f"init_from must be a TrainedMMoE, got {type(source).__name__}")
    if tuple(source.cardinalities) != cardinalities:
        raise ValueError(f"init_from has cardinalities {list(source.cardinalities)}, this training has "
                         f"{list(cardinalities)}: warm start needs the same vocabularies")
    if source.n_dense != n_dense:
        raise ValueError(f"init_from has {source.n_dense} dense columns, this training has {n_dense}")
    ours, theirs = network.state_dict(), source.network.state_dict()
    mismatched = sorted(
        f"{name}: {tuple(theirs[name].shape) if name in theirs else 'missing'} vs {tuple(t.shape)}"
        for name, t in ours.items() if name not in theirs or theirs[name].shape != t.shape)
    extra = sorted(set(theirs) - set(ours))
    if mismatched or extra:
        raise ValueError("init_from has a different architecture (init_from vs this training): "
                         + "; ".join(mismatched + [f"{name}: unexpected" for name in extra]))
    network.load_state_dict(theirs)
