"""Action-conditioned PredRNN and PredRNN-V2 (Wang et al., TPAMI 2022, Sec. 5.4; docs/models/action_predrnn.md).

Each step t reads frame t (true or predicted) and the action vector a_t of the same frame. The
action is laid out as A constant planes over the grid and, in every layer, multiplies the
gate convolutions of the hidden state:

    [i_x, f_x, g_x, i_x', f_x', g_x', o_x] = W_x * X
    [i_h, f_h, g_h, o_h] = (W_h * H) ∘ (W_a * A)              (action-gated recurrence)
    [i_m, f_m, g_m]      = W_m * M
    i = σ(i_x + i_h),    f = σ(f_x + f_h + 1),    g = tanh(g_x + g_h)
    C' = f ∘ C + i ∘ g                                         (ΔC = i ∘ g)
    i' = σ(i_x' + i_m),  f' = σ(f_x' + f_m + 1),  g' = tanh(g_x' + g_m)
    M' = f' ∘ M + i' ∘ g'                                      (ΔM = i' ∘ g')
    o  = σ(o_x + o_h + W_o * [C', M'])
    H' = o ∘ tanh(W_1×1 * [C', M'])

Every W is a 'same' convolution with bias (the authors' cells keep the bias). With
`conv_on_input` the frame and the action planes are each encoded by two stride-2 convolutions
(the cells run on a grid 4 × smaller) and two stride-2 transposed convolutions decode the top
H, with `res_on_conv` adding the frame encoder's maps back (a U-Net-like skip). PredRNN-V2 adds
the decoupling loss: the mean over steps, layers, samples and channels of |cos(W_ad * ΔC,
W_ad * ΔM)|, the cosine taken over space, with one 1×1 adapter W_ad shared by all layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models.cells import LAYER_NORMS, gate_conv, spatiotemporal_update
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.recurrent import (
    RecurrentNetwork,
    check_frames,
    conv_flops,
    conv_step_flops,
    expand_mask,
    step_input,
)

# a gate convolution (models/cells.py) with bias, always a Sequential: the convolution is `.0`
# as in the authors' state dicts (`"elementwise"` is the authors' `layer_norm=1`)
biased_gate_conv = partial(gate_conv, bias=True, always_sequential=True)


class ActionSTLSTMCell(nn.Module):
    """One ST-LSTM step whose hidden-state gate terms are multiplied by the action's (module
    docstring). `action_channels` is what W_a reads: the encoded action (the layer's width)
    with `conv_on_input`, the raw action planes without."""

    def __init__(
        self, in_channels: int, action_channels: int, hidden_channels: int, kernel_size: int,
        layer_norm: bool | str, grid: tuple[int, int],
    ) -> None:  # fmt: skip
        super().__init__()
        hc = hidden_channels
        self.hidden_channels = hc
        self.conv_x = biased_gate_conv(in_channels, 7 * hc, kernel_size, layer_norm, grid)
        self.conv_h = biased_gate_conv(hc, 4 * hc, kernel_size, layer_norm, grid)
        self.conv_a = biased_gate_conv(action_channels, 4 * hc, kernel_size, layer_norm, grid)
        self.conv_m = biased_gate_conv(hc, 3 * hc, kernel_size, layer_norm, grid)
        self.conv_o = biased_gate_conv(2 * hc, hc, kernel_size, layer_norm, grid)
        self.conv_last = nn.Conv2d(2 * hc, hc, 1)

    def forward(self, x: Tensor, h: Tensor, c: Tensor, m: Tensor, a: Tensor) -> tuple[Tensor, ...]:
        """Returns (H', C', M', ΔC, ΔM)."""
        gates = self.conv_x(x), self.conv_h(h) * self.conv_a(a), self.conv_m(m)  # the action-gated recurrence
        return spatiotemporal_update(self.hidden_channels, *gates, c, m, self.conv_o, self.conv_last)


def halved(grid: tuple[int, int]) -> tuple[int, int]:
    """The grid after a stride-2 'same' convolution of odd kernel: ceil(n / 2) per axis."""
    return (grid[0] + 1) // 2, (grid[1] + 1) // 2


def upsampler(
    cin: int, cout: int, kernel_size: int, small: tuple[int, int], large: tuple[int, int]
) -> nn.ConvTranspose2d:
    """A stride-2 transposed convolution from `small` back to exactly `large` (the authors pass
    `output_size`; here the output padding, 0 or 1 per axis, is fixed from the frame size)."""
    extra = tuple(n - (2 * s - 1) for n, s in zip(large, small))
    return nn.ConvTranspose2d(
        cin, cout, kernel_size, stride=2, padding=kernel_size // 2, output_padding=extra, bias=False
    )


class ActionPredRNN(RecurrentNetwork):
    """Action-conditioned PredRNN: `forward(frames, teacher_mask, actions)` with actions
    (B, T, A), one vector per frame; step t reads frame t with action t and predicts frame t + 1,
    so the last frame's action is never read. Which frame a step sees is `models/recurrent.py`'s
    rule (the authors' reverse scheduled sampling masks steps 1 … T−2, as our mask does)."""

    conditioning: ClassVar[tuple[str, ...]] = ("actions",)
    patched_frame_weights: ClassVar[dict[str, tuple[str, ...]]] = {
        # dim 1 of a transposed conv's weight is its output: deconv_output2 writes the frame
        "in": ("conv_input1.weight", "deconv_output2.weight"),
        "out": ("conv_last.weight",),
    }

    def __init__(
        self,
        hidden_channels: Sequence[int] = (128, 128, 128, 128),
        in_channels: int = 3,
        image_size: int | Sequence[int] = 64,
        patch_size: int = 1,
        kernel_size: int = 5,
        layer_norm: bool | str = False,
        input_length: int = 2,
        action_channels: int = 4,
        conv_on_input: bool = True,
        res_on_conv: bool = True,
    ) -> None:
        super().__init__(hidden_channels, in_channels, image_size, patch_size, input_length, in_channels_example=3,
                         input_length_example=2)  # fmt: skip
        widths = self.widths
        if len(set(widths)) != 1:
            # M passes up the stack unchanged in size, and every layer's W_a reads the one encoded action
            raise BadValue("hidden_channels", widths, "must all be equal (the layers share M and the action)",
                           "[" + ",".join(str(widths[0]) for _ in widths) + "]")  # fmt: skip
        checks.boolean("conv_on_input", conv_on_input)
        checks.boolean("res_on_conv", res_on_conv)
        if conv_on_input and widths[0] < 2:
            raise BadValue("hidden_channels", widths, "must be at least 2 with conv_on_input (its first encoder "
                           "halves the width)", "[" + ",".join("2" for _ in widths) + "]")  # fmt: skip
        if res_on_conv and not conv_on_input:
            raise BadValue("res_on_conv", res_on_conv, "adds the input encoder's maps back: it needs conv_on_input=true",
                           "false")  # fmt: skip
        checks.integer("kernel_size", kernel_size, 5, minimum=1, odd=True)
        checks.choice("layer_norm", layer_norm, LAYER_NORMS, "false")
        checks.integer("action_channels", action_channels, 4, minimum=1)
        self.keep_init_args(kernel_size=kernel_size, layer_norm=layer_norm, action_channels=action_channels,
                            conv_on_input=conv_on_input, res_on_conv=res_on_conv)  # fmt: skip
        self.action_channels = action_channels
        self.conv_on_input = conv_on_input
        self.res_on_conv = res_on_conv
        hidden = widths[0]
        frame_channels = self.frame_channels
        self.half_grid = halved(self.frame_grid)
        self.grid = halved(self.half_grid) if conv_on_input else self.frame_grid  # where the cells run

        if conv_on_input:
            k, pad = kernel_size, kernel_size // 2
            self.conv_input1 = nn.Conv2d(frame_channels, hidden // 2, k, stride=2, padding=pad, bias=False)
            self.conv_input2 = nn.Conv2d(hidden // 2, hidden, k, stride=2, padding=pad, bias=False)
            self.action_conv_input1 = nn.Conv2d(action_channels, hidden // 2, k, stride=2, padding=pad, bias=False)
            self.action_conv_input2 = nn.Conv2d(hidden // 2, hidden, k, stride=2, padding=pad, bias=False)
            self.deconv_output1 = upsampler(hidden, hidden // 2, k, self.grid, self.half_grid)
            self.deconv_output2 = upsampler(hidden // 2, frame_channels, k, self.half_grid, self.frame_grid)
            first_input, action_input = hidden, hidden
        else:
            # the frame and its action planes side by side (the authors' `patch_ch + action_ch`)
            first_input, action_input = frame_channels + action_channels, action_channels
        self.cell_list = nn.ModuleList(
            ActionSTLSTMCell(
                first_input if i == 0 else hidden, action_input, hidden, kernel_size, layer_norm, self.grid
            )
            for i in range(len(widths))
        )
        if not conv_on_input:
            self.conv_last = nn.Conv2d(hidden, frame_channels, 1, bias=False)
        self.add_loss_modules()

    def recurrent_cells(self) -> Sequence[nn.Module]:
        return self.cell_list

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None, actions: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W), actions (B, T, A) -> predictions (B, T−1, C, H, W) of frames 1 … T−1."""
        return self.rollout(frames, teacher_mask, actions)[0]

    def check_actions(self, frames: Tensor, actions: Tensor | None) -> Tensor:
        """The first T action vectors, in the frames' dtype; one clear line when they don't fit."""
        b, t = frames.shape[:2]
        need = f"(B, T, A) = ({b}, {t}, {self.action_channels}), one action vector per frame"
        if actions is None:
            raise ValueError(f"this network is conditioned on actions: pass actions {need}")
        if not isinstance(actions, Tensor) or not torch.is_floating_point(actions):
            raise ValueError(f"actions must be a float tensor {need}, got {type(actions).__name__} "
                             f"{getattr(actions, 'dtype', '')}".rstrip())  # fmt: skip
        shape = tuple(actions.shape)
        if actions.ndim != 3 or shape[0] != b or shape[2] != self.action_channels:
            raise ValueError(f"actions must be {need}, got shape {shape}")
        if shape[1] < t:
            raise ValueError(f"actions must be {need}: got {shape[1]} actions for {t} frames")
        return actions[:, :t].to(frames.dtype)

    def rollout(
        self, frames: Tensor, teacher_mask: Tensor | None, actions: Tensor | None
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """(predictions, per step and layer the memory increments (ΔC, ΔM))."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        actions = self.check_actions(frames, actions)
        x = fold_patches(frames, self.patch_size)
        mask = expand_mask(teacher_mask, x)
        b = x.shape[0]
        h = [x.new_zeros(b, w, *self.grid) for w in self.widths]
        c = [x.new_zeros(b, w, *self.grid) for w in self.widths]
        m = x.new_zeros(b, self.widths[0], *self.grid)

        outputs: list[Tensor] = []
        increments: list[tuple[Tensor, Tensor]] = []
        x_gen = x[:, 0]
        for step in range(x.shape[1] - 1):
            net = step_input(step, x[:, step], x_gen, mask, self.input_length)
            # the action of frame `step` as A constant planes over the patched frame
            planes = actions[:, step, :, None, None].expand(-1, -1, *self.frame_grid)
            if self.conv_on_input:
                skip1 = self.conv_input1(net)
                skip2 = self.conv_input2(skip1)
                net = skip2
                action = self.action_conv_input2(self.action_conv_input1(planes))
            else:
                net = torch.cat([net, planes], dim=1)
                action = planes
            for layer, cell in enumerate(self.cell_list):
                h[layer], c[layer], m, d_c, d_m = cell(net, h[layer], c[layer], m, action)
                increments.append((d_c, d_m))
                net = h[layer]
            top = h[-1]
            if not self.conv_on_input:
                x_gen = self.conv_last(top)
            elif self.res_on_conv:
                x_gen = self.deconv_output2(self.deconv_output1(top + skip2) + skip1)
            else:
                x_gen = self.deconv_output2(self.deconv_output1(top))
            outputs.append(x_gen)
        return unfold_patches(torch.stack(outputs, dim=1), self.patch_size), increments

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one inference pass, counted from the conv shapes
        (what torch's FLOP counter counts: a convolution on its output grid, a transposed one on
        its input grid; biases and gates are not counted)."""

        flops = conv_step_flops
        per_step = conv_flops(self.cell_list, self.grid)
        if self.conv_on_input:
            per_step += flops(self.conv_input1, self.half_grid) + flops(self.action_conv_input1, self.half_grid)
            per_step += flops(self.conv_input2, self.grid) + flops(self.action_conv_input2, self.grid)
            per_step += flops(self.deconv_output1, self.grid) + flops(self.deconv_output2, self.half_grid)
        else:
            per_step += flops(self.conv_last, self.grid)
        return batch * (total_length - 1) * per_step


class ActionPredRNNV2(ActionPredRNN):
    """Action-conditioned PredRNN-V2: the same network plus one 1×1 `adapter`; in training mode
    `forward` returns `(predictions, {"decouple": loss})` (module docstring), which the training
    module weighs by `decouple_beta` (0.1 in the authors' BAIR script)."""

    aux_losses: ClassVar[dict[str, str]] = {"decouple": "decouple_beta"}  # weighted by module.decouple_beta

    def add_loss_modules(self) -> None:
        self.adapter = nn.Conv2d(self.widths[-1], self.widths[-1], 1, bias=False)

    def forward(
        self, frames: Tensor, teacher_mask: Tensor | None = None, actions: Tensor | None = None
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        predictions, increments = self.rollout(frames, teacher_mask, actions)
        if not self.training:
            return predictions
        terms = [self.decoupling(d_c, d_m) for d_c, d_m in increments]
        return predictions, {"decouple": torch.stack(terms).mean()}

    def decoupling(self, delta_c: Tensor, delta_m: Tensor) -> Tensor:
        """Mean over samples and channels of |cos| between the adapted ΔC and ΔM, each channel's
        map L2-normalised over space first (as the authors do, before their cosine)."""
        c = F.normalize(self.adapter(delta_c).flatten(2), dim=2)
        m = F.normalize(self.adapter(delta_m).flatten(2), dim=2)
        return torch.cosine_similarity(c, m, dim=2).abs().mean()
