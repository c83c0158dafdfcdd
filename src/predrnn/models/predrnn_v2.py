"""PredRNN-V2 (Wang et al., TPAMI 2022): the PredRNN network plus the decoupling loss, which
keeps the increments of the two memories apart (docs/method.md, "The losses").
Reverse scheduled sampling, V2's other half, is a sampling curve (`sampling=reverse`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from predrnn.models.losses import decoupling_loss
from predrnn.models.predrnn import PredRNN


class PredRNNV2(PredRNN):
    """In training mode `forward` returns `(predictions, {"decouple": loss})`: the mean over
    steps and layers of |cos| between the adapted ΔC and ΔM. One 1×1 adapter is shared by ΔC
    and ΔM, and by all layers of a width (the official code's layers are all equally wide)."""

    aux_losses = {"decouple": "decouple_beta"}  # weighted by module.decouple_beta (models/api.py)
    patched_frame_weights = PredRNN.patched_frame_weights

    def add_loss_modules(self) -> None:
        self.adapters = nn.ModuleDict({str(w): nn.Conv2d(w, w, 1, bias=False) for w in sorted(set(self.widths))})

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        if not self.training:
            return super().forward(frames, teacher_mask)
        predictions, increments = self.rollout(frames, teacher_mask, deltas=True)
        losses = []
        for layer, d_c, d_m in increments:
            adapter = self.adapters[str(self.widths[layer])]
            losses.append(decoupling_loss(adapter(d_c), adapter(d_m)))
        return predictions, {"decouple": torch.stack(losses).mean()}

    def _training_only(self) -> set[nn.Module]:
        return set(self.adapters.values())  # the adapters serve the loss only
