"""Training losses: reconstruction (L1 + L2 or MSE), the PredRNN-V2 decoupling loss and TAU's
differential divergence regulariser."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

RECONSTRUCTION_LOSSES = ("l1_l2", "mse", "l1")


def reconstruction_loss(
    predictions: Tensor, target: Tensor, kind: str = "l1_l2", valid: Tensor | None = None
) -> Tensor:
    """Mean over all elements. `l1_l2` is the seed paper's L1 + L2; `mse` the official code's.
    With `valid` (bool, the target's shape; False where the data has no coverage) the mean
    over the valid elements only (`masked_reconstruction_loss`)."""
    if valid is not None:
        return masked_reconstruction_loss(predictions, target, valid, kind)
    if kind == "mse":
        return F.mse_loss(predictions, target)
    if kind == "l1":
        return F.l1_loss(predictions, target)
    if kind == "l1_l2":
        return F.mse_loss(predictions, target) + F.l1_loss(predictions, target)
    raise ValueError(f"unknown loss {kind!r}: use one of {', '.join(RECONSTRUCTION_LOSSES)}")


def masked_reconstruction_loss(predictions: Tensor, target: Tensor, valid: Tensor, kind: str = "l1_l2") -> Tensor:
    """The reconstruction loss of `kind` as a mean over the elements where `valid` is True
    (docs/metrics.md, "Pixels without data"). The error is zeroed before it is squared, so the
    other elements give no gradient whatever their values (NaN included); with no valid element
    the loss is 0 (a batch without coverage adds nothing)."""
    if kind not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"unknown loss {kind!r}: use one of {', '.join(RECONSTRUCTION_LOSSES)}")
    # in float32, as the unmasked losses are under autocast
    error = torch.where(valid, predictions.float() - target.float(), 0.0)
    count = valid.sum().clamp(min=1).to(error.dtype)
    loss = error.new_zeros(())
    if kind in ("mse", "l1_l2"):
        loss = loss + error.square().sum() / count
    if kind in ("l1", "l1_l2"):
        loss = loss + error.abs().sum() / count
    return loss


def decoupling_loss(delta_c: Tensor, delta_m: Tensor) -> Tensor:
    """Mean |cosine similarity| between ΔC and ΔM per channel (PredRNN-V2; docs/method.md, "The losses").

    Inputs are already mapped by the shared 1×1 adapter, shape (B, C, H, W); each channel is
    L2-normalised over space before the cosine, so the value lies in [0, 1].
    """
    c = F.normalize(delta_c.flatten(2), dim=2)
    m = F.normalize(delta_m.flatten(2), dim=2)
    return torch.abs((c * m).sum(dim=2)).mean()


def differential_divergence(
    predictions: Tensor, target: Tensor, temperature: float = 0.1, eps: float = 1e-12
) -> Tensor:
    """TAU's differential divergence regulariser (docs/models/simvp.md, "TAU's loss"): the
    differences between consecutive frames, each turned into a distribution over its pixels by a
    softmax at `temperature`, and the mean over (B, K − 1, pixels) of p · log(p / (q + ε) + ε),
    p from the predictions and q from the target (a KL divergence per frame difference, divided
    by the pixels). 0 for K ≤ 2 frames, as in TAU's reference code."""
    b, k = predictions.shape[:2]
    if k <= 2:
        return predictions.new_zeros(())
    predicted = (predictions[:, 1:] - predictions[:, :-1]).reshape(b, k - 1, -1).float()
    true = (target[:, 1:] - target[:, :-1]).reshape(b, k - 1, -1).float()
    p = F.softmax(predicted / temperature, dim=-1)
    q = F.softmax(true / temperature, dim=-1)
    return (p * torch.log(p / (q + eps) + eps)).mean()
