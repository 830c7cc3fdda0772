"""The MMoE's training losses (private), from the towers' logits: the click BCE (weighted by
the rows' sample weights, 1 unless the rows are a negative sample) and the
ESMM pCTCVR cross-entropy, plain (weighted by ``conversion_weight``) or importance-weighted
by per-row samples (``esmm_fnw``, ``esmm_esdfm``; :mod:`receval.models.delayed_feedback`).

Apart from :mod:`receval.models.mmoe` (whose module docstring has the formulas) so that it
reads as the network and its training loop; not in delayed_feedback, which is numpy that the
feature matrix imports without torch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from receval.models.delayed_feedback import fnw_weights


def log_probabilities(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log pCTCVR and log(1 - pCTCVR) from the towers' logits."""
    log_p = F.logsigmoid(a) + F.logsigmoid(b)
    # 1 - s(a)s(b) = (e^-a + e^-b + e^-(a+b)) s(a)s(b): finite even where pCTCVR rounds to 1
    log_not_p = log_p + torch.logsumexp(torch.stack([-a, -b, -a - b]), dim=0)
    return log_p, log_not_p


def click_loss(a: torch.Tensor, click: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The ``weight``-weighted mean click BCE, from the click logits."""
    per_row = F.binary_cross_entropy_with_logits(a, click, reduction="none")
    return (weight * per_row).sum() / weight.sum().clamp_min(1e-12)


def losses(a: torch.Tensor, b: torch.Tensor, click: torch.Tensor, click_weight: torch.Tensor,
           conversion: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean click BCE and conversion-weighted mean ESMM (pCTCVR) BCE, from logits."""
    log_p, log_not_p = log_probabilities(a, b)
    per_row = -(conversion * log_p + (1.0 - conversion) * log_not_p)
    # an all-immature batch contributes 0 (numerator 0), not nan
    conversion_loss = (weight * per_row).sum() / weight.sum().clamp_min(1e-12)
    return click_loss(a, click, click_weight), conversion_loss


def weighted_losses(a: torch.Tensor, b: torch.Tensor, click: torch.Tensor, click_weight: torch.Tensor,
                    positive: torch.Tensor, negative: torch.Tensor, count: torch.Tensor,
                    fnw: bool) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Weighted mean click BCE and the importance-weighted pCTCVR BCE, from logits.

    :math:`\sum_i [a_i (-\log q_i) + b_i (-\log(1 - q_i))] / \sum_i n_i` with ``positive``
    :math:`a`, ``negative`` :math:`b` and ``count`` :math:`n`; with ``fnw`` the coefficients
    are first multiplied by the FNW weights :math:`1 + p` and :math:`(1 - p)(1 + p)` of
    :math:`p = q` with the gradient stopped.
    """
    log_p, log_not_p = log_probabilities(a, b)
    if fnw:
        w_positive, w_negative = fnw_weights(log_p.detach().exp())
        positive, negative = positive * w_positive, negative * w_negative
    conversion_loss = -(positive * log_p + negative * log_not_p).sum() / count.sum().clamp_min(1e-12)
    return click_loss(a, click, click_weight), conversion_loss
