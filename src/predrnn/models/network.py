"""The PredRNN network: a stack of recurrent cells with the zigzag spatiotemporal memory flow.

One class serves PredRNN (ST-LSTM cells), PredRNN-V2 (ST-LSTM plus the decoupling loss) and
the ConvLSTM baseline (`cell="convlstm"`), so that every comparison runs the same loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models.cells import ConvLSTMCell, SpatioTemporalLSTMCell
from predrnn.models.losses import decoupling_loss
from predrnn.models.patching import fold_patches, unfold_patches

CELLS = {"stlstm": SpatioTemporalLSTMCell, "convlstm": ConvLSTMCell}


class PredRNN(nn.Module):
    """Stacked recurrent cells over patched frames.

    `forward(frames, teacher_mask)` unrolls over t = 0..T-2 and returns predictions of frames
    1..T-1. The input at step t ≥ 1 is the true frame where `teacher_mask[:, t-1]` is 1 and the
    network's previous output where it is 0; `teacher_mask=None` is inference: true frames for
    the first `input_length` steps, own outputs afterwards.
    """

    def __init__(
        self,
        hidden_channels: Sequence[int] = (128, 128, 128, 128),
        in_channels: int = 1,
        image_size: int | Sequence[int] = 64,
        patch_size: int = 4,
        kernel_size: int = 5,
        layer_norm: bool | str = False,
        cell: str = "stlstm",
        input_length: int = 10,
    ) -> None:
        super().__init__()
        if isinstance(hidden_channels, (str, int)) or not hidden_channels:
            raise BadValue(
                "hidden_channels", hidden_channels, "must be a non-empty list, one width per layer", "[64,64]"
            )
        widths = list(hidden_channels)  # each width is checked by its cell
        checks.choice("cell", cell, CELLS, "stlstm")
        height, width = checks.pair("image_size", image_size, 64)
        checks.integer("patch_size", patch_size, 4, minimum=1)
        if height % patch_size or width % patch_size:
            raise BadValue(
                "patch_size",
                patch_size,
                f"must divide the frame size {height}x{width}",
                4 if height % 4 == width % 4 == 0 else 1,
            )
        checks.integer("input_length", input_length, 10, minimum=1)
        self.init_args: dict[str, Any] = {
            "hidden_channels": widths,
            "in_channels": in_channels,
            "image_size": [height, width],
            "patch_size": patch_size,
            "kernel_size": kernel_size,
            "layer_norm": layer_norm,
            "cell": cell,
            "input_length": input_length,
        }
        self.widths = widths
        self.in_channels = in_channels
        self.image_size = (height, width)
        self.patch_size = patch_size
        self.input_length = input_length
        self.uses_memory = cell == "stlstm"
        self.cells_compiled = False
        frame_channels = in_channels * patch_size * patch_size

        grid = (height // patch_size, width // patch_size)
        self.cells = nn.ModuleList(
            CELLS[cell](frame_channels if i == 0 else widths[i - 1], w, kernel_size, layer_norm, grid)
            for i, w in enumerate(widths)
        )
        self.conv_out = nn.Conv2d(widths[-1], frame_channels, 1, bias=False)
        if self.uses_memory:
            # M enters layer l from layer l-1 (layer 0: from the top layer at t-1); a 1×1
            # projection bridges unequal widths, identity otherwise.
            sources = [widths[-1], *widths[:-1]]
            self.memory_projections = nn.ModuleList(
                nn.Identity() if s == w else nn.Conv2d(s, w, 1, bias=False) for s, w in zip(sources, widths)
            )
            # V2 decoupling: one 1×1 adapter shared by ΔC and ΔM (and by all layers of a width,
            # as in the official code where all layers are equally wide).
            self.adapters = nn.ModuleDict({str(w): nn.Conv2d(w, w, 1, bias=False) for w in sorted(set(widths))})

    def compile_cells(self, mode: str | None = "default", **options: Any) -> None:
        """torch.compile each cell in place (checkpoint keys unchanged): a cell's graph compiles
        in seconds where the unrolled 19 × L network takes minutes. The loop then hands every
        step inputs of one dtype, layout and strides, so each cell shape compiles once."""
        for cell in self.cells:
            cell.compile(mode=mode, **options)
        self.cells_compiled = True

    def _check_input(self, frames: Tensor, teacher_mask: Tensor | None) -> None:
        if frames.ndim != 5:
            raise ValueError(f"frames must be (B, T, C, H, W), got shape {tuple(frames.shape)}")
        b, t, c, h, w = frames.shape
        if (c, h, w) != (self.in_channels, *self.image_size):
            raise ValueError(
                f"frames are {c}x{h}x{w} but the model expects "
                f"{self.in_channels}x{self.image_size[0]}x{self.image_size[1]}"
            )
        if t <= self.input_length:
            raise ValueError(
                f"sequence length {t} leaves nothing to predict after input_length "
                f"{self.input_length}: give more frames"
            )
        if teacher_mask is not None and tuple(teacher_mask.shape) != (b, t - 2):
            raise ValueError(f"teacher_mask must be (B, T-2) = ({b}, {t - 2}), got {tuple(teacher_mask.shape)}")

    def forward(
        self, frames: Tensor, teacher_mask: Tensor | None = None, return_decouple_loss: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """frames (B, T, C, H, W) in [0, 1] -> predictions (B, T-1, C, H, W) of frames 1..T-1.

        With `return_decouple_loss`, also the V2 decoupling loss (mean over steps and layers).
        """
        self._check_input(frames, teacher_mask)
        if return_decouple_loss and not self.uses_memory:
            raise ValueError("the decoupling loss needs ST-LSTM cells (cell='stlstm')")
        x = fold_patches(frames, self.patch_size)
        inputs, h, c, m = self._initial_state(x)
        mask = None if teacher_mask is None else teacher_mask.to(x.dtype)[:, :, None, None, None]

        outputs: list[Tensor] = []
        decouple: list[Tensor] = []
        x_gen = inputs[0]
        for step in range(frames.shape[1] - 1):
            if step == 0 or (mask is None and step < self.input_length):
                inp = inputs[step]
            elif mask is None:
                inp = x_gen.to(x.dtype)  # fed back in the frames' dtype (autocast's output may differ)
            else:
                inp = mask[:, step - 1] * inputs[step] + (1 - mask[:, step - 1]) * x_gen
            for layer, cell in enumerate(self.cells):
                if not self.uses_memory:
                    h[layer], c[layer] = cell(inp, h[layer], c[layer])
                else:
                    m = self.memory_projections[layer](m)
                    if return_decouple_loss:
                        h[layer], c[layer], m, d_c, d_m = cell(inp, h[layer], c[layer], m, return_deltas=True)
                        adapter = self.adapters[str(self.widths[layer])]
                        decouple.append(decoupling_loss(adapter(d_c), adapter(d_m)))
                    else:
                        h[layer], c[layer], m = cell(inp, h[layer], c[layer], m)
                inp = h[layer]
            x_gen = self.conv_out(h[-1])
            outputs.append(x_gen)

        predictions = unfold_patches(torch.stack(outputs, dim=1), self.patch_size)
        if return_decouple_loss:
            return predictions, torch.stack(decouple).mean()
        return predictions

    def _initial_state(self, x: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor], Tensor]:
        """The per-step inputs of layer 1 and the zero states H, C (per layer) and M.

        Everything here serves torch.compile, so that step 0 looks like the others: zero states
        in the layout and dtypes the cells return (C, M: the input's; an ST-LSTM's H: autocast's
        when on; a ConvLSTM's H follows C). Compiled cells also get layer 1's input as a dense
        tensor (a copy per step: dynamo guards on a view's base, which predictions lack) and,
        when training, zero states and observed frames that carry gradients as later ones do
        (a few unused gradients, about 0.5 % of a 4 × 128 training step's FLOPs).
        """
        b, t, _, height, width = x.shape
        fmt = self._memory_format()
        dense = self.cells_compiled
        inputs = [x[:, step].contiguous(memory_format=fmt) if dense else x[:, step] for step in range(t - 1)]
        kind = x.device.type
        compute = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
        h_dtype = compute if self.uses_memory else x.dtype
        h = [x.new_zeros(b, w, height, width, dtype=h_dtype).contiguous(memory_format=fmt) for w in self.widths]
        c = [x.new_zeros(b, w, height, width).contiguous(memory_format=fmt) for w in self.widths]
        m = x.new_zeros(b, self.widths[-1], height, width).contiguous(memory_format=fmt)
        if dense and torch.is_grad_enabled():
            for tensor in (*h, *c, m, *inputs):
                tensor.requires_grad_()
        return inputs, h, c, m

    def _memory_format(self) -> torch.memory_format:
        """States follow the weights' layout, so `.to(memory_format=channels_last)` is enough.
        Read from a k×k gate kernel: a 1×1 kernel's two layouts can't be told apart."""
        weight = next((p for p in self.cells[0].parameters() if p.ndim == 4 and p.shape[-1] > 1), None)
        if (
            weight is not None
            and weight.is_contiguous(memory_format=torch.channels_last)
            and not weight.is_contiguous()
        ):
            return torch.channels_last
        return torch.contiguous_format

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one forward pass, counted from the conv shapes."""
        height = self.image_size[0] // self.patch_size
        width = self.image_size[1] // self.patch_size
        per_step = 0
        adapters = set(self.adapters.values()) if self.uses_memory else set()  # V2 loss only
        for conv in self.modules():
            if isinstance(conv, nn.Conv2d) and conv not in adapters:
                kh, kw = conv.kernel_size
                per_step += 2 * conv.in_channels * conv.out_channels * kh * kw * height * width
        return batch * (total_length - 1) * per_step
