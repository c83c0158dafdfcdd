"""MAU, the Motion-Aware Unit (Chang et al., NeurIPS 2021; docs/models/mau.md).

Each frame is encoded to a grid `sr_size` times smaller, a stack of MAU cells runs on that grid,
and a transposed-convolution decoder brings the top cell's output back to a frame. A cell keeps
a temporal state T (per layer, across time) and passes a spatial state S up the stack. Before
updating T it looks back over the last `tau` steps of its layer:

    α_j   = softmax_j( <S_{t-j}, W_s' * S_t> / sqrt(d) )          j = 1 … τ,  d = C·h·w
    T_att = Σ_j α_j T_{t-j}                                        (the motion trend)
    U_f   = σ(W_t' * T_{t-1})
    T_AMI = U_f ∘ T_{t-1} + (1 − U_f) ∘ T_att                      (attention-fused T)
    [t_g, t_t, t_s] = W_t * T_AMI,   [s_g, s_t, s_s] = W_s * S_t
    U_t = σ(t_g),  U_s = σ(s_g)
    T_t = U_t ∘ t_t + (1 − U_t) ∘ s_t
    S'  = U_s ∘ s_s + (1 − U_s) ∘ t_s   (+ S_t with cell_mode=residual)

Every W is a 'same' convolution followed by layer norm over (C, h, w) per element (as the
reference code). S_{t-j} are the cell's *inputs* S of earlier steps, T_{t-j} its earlier
outputs T; before step τ the window is padded with zeros (which still take softmax mass).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models.cells import Unapplied, gate_conv
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.recurrent import (
    RecurrentNetwork,
    check_frames,
    conv_flops,
    conv_step_flops,
    expand_mask,
    step_input,
)

CELL_MODES = ("normal", "residual")
MODEL_MODES = ("normal", "recall")


def normed_conv(cin: int, cout: int, kernel_size: int, grid: tuple[int, int]) -> nn.Sequential:
    """A 'same' convolution (with bias) followed by layer norm over (C, h, w), gain and bias per element."""
    return gate_conv(cin, cout, kernel_size, "elementwise", grid, bias=True)


class MAUCell(nn.Module):
    """One MAU step on the encoded grid (equations in the module docstring)."""

    def __init__(self, channels: int, grid: tuple[int, int], kernel_size: int, tau: int, cell_mode: str) -> None:
        super().__init__()
        self.channels = channels
        self.tau = tau
        self.residual = cell_mode == "residual"
        self.scale = math.sqrt(channels * grid[0] * grid[1])  # sqrt(d) of the attention scores
        self.conv_t = normed_conv(channels, 3 * channels, kernel_size, grid)  # W_t
        self.conv_t_next = normed_conv(channels, channels, kernel_size, grid)  # W_t' (attention gate)
        self.conv_s = normed_conv(channels, 3 * channels, kernel_size, grid)  # W_s
        self.conv_s_next = normed_conv(channels, channels, kernel_size, grid)  # W_s' (attention query)

    def forward(self, t_prev: Tensor, s_in: Tensor, t_window: Tensor, s_window: Tensor) -> tuple[Tensor, Tensor]:
        """t_prev, s_in: (B, C, h, w); t_window, s_window: (τ, B, C, h, w), the layer's last τ
        outputs T and inputs S, oldest first. Returns (T_t, S')."""
        query = self.conv_s_next(s_in)
        scores = (s_window * query).sum(dim=(2, 3, 4)) / self.scale  # (τ, B)
        alpha = torch.softmax(scores, dim=0)[:, :, None, None, None]
        t_trend = (alpha * t_window).sum(dim=0)
        gate = torch.sigmoid(self.conv_t_next(t_prev))
        t_fused = gate * t_prev + (1 - gate) * t_trend

        t_g, t_t, t_s = torch.split(self.conv_t(t_fused), self.channels, dim=1)
        s_g, s_t, s_s = torch.split(self.conv_s(s_in), self.channels, dim=1)
        u_t = torch.sigmoid(t_g)
        u_s = torch.sigmoid(s_g)
        t_new = u_t * t_t + (1 - u_t) * s_t
        s_new = u_s * s_s + (1 - u_s) * t_s
        if self.residual:
            s_new = s_new + s_in
        return t_new, s_new


class MAU(RecurrentNetwork):
    """Encoder (1×1 conv, then log2(sr_size) stride-2 3×3 convs), MAU cells on the grid
    (H/p/sr, W/p/sr), decoder (log2(sr_size) stride-2 transposed convs), 1×1 conv to the frame.

    `forward(frames, teacher_mask)` unrolls over t = 0..T-2 and returns predictions of frames
    1..T-1; which input each step sees is `models/recurrent.py`'s rule (the reference's rule
    under its scheduled-sampling mask). With `model_mode=recall` each decoder stage adds the
    encoder's feature map of the same size (of the current input frame).
    """

    patched_frame_weights: ClassVar[dict[str, tuple[str, ...]]] = {
        "in": ("encoders.0.encoder_t_conv-1.weight",),
        "out": ("srcnn.0.weight", "srcnn.0.bias"),
    }

    def __init__(
        self,
        hidden_channels: Sequence[int] = (64, 64, 64, 64),
        in_channels: int = 1,
        image_size: int | Sequence[int] = 64,
        patch_size: int = 1,
        kernel_size: int = 5,
        tau: int = 5,
        cell_mode: str = "normal",
        model_mode: str = "normal",
        sr_size: int = 4,
        input_length: int = 10,
    ) -> None:
        super().__init__(hidden_channels, in_channels, image_size, patch_size, input_length)
        widths = self.widths
        if len(set(widths)) != 1:
            # each cell compares its input S with its own states and passes S on unchanged in size
            raise BadValue("hidden_channels", widths, "must all be equal (MAU's cells share one width)",
                           "[" + ",".join(str(widths[0]) for _ in widths) + "]")  # fmt: skip
        checks.integer("kernel_size", kernel_size, 5, minimum=1, odd=True)
        checks.integer("tau", tau, 5, minimum=1)
        checks.choice("cell_mode", cell_mode, CELL_MODES, "normal")
        checks.choice("model_mode", model_mode, MODEL_MODES, "normal")
        check_sr_size(sr_size, self.frame_grid)
        self.keep_init_args(kernel_size=kernel_size, tau=tau, cell_mode=cell_mode, model_mode=model_mode,
                            sr_size=sr_size)  # fmt: skip
        self.tau = tau
        self.recall = model_mode == "recall"
        self.grid = (self.frame_grid[0] // sr_size, self.frame_grid[1] // sr_size)  # where the cells run
        self.stages = int(math.log2(sr_size))
        frame_channels = self.frame_channels
        channels = widths[0]

        # encoders[0]: 1×1 conv to the cells' width; encoders[k], k ≥ 1: halve the grid
        encoders = [nn.Sequential(OrderedDict([
            ("encoder_t_conv-1", nn.Conv2d(frame_channels, channels, 1)), ("relu_t_-1", nn.LeakyReLU(0.2)),
        ]))]  # fmt: skip
        for k in range(self.stages):
            encoders.append(nn.Sequential(OrderedDict([
                (f"encoder_t{k}", nn.Conv2d(channels, channels, 3, stride=2, padding=1)),
                (f"encoder_t_relu{k}", nn.LeakyReLU(0.2)),
            ])))  # fmt: skip
        self.encoders = nn.ModuleList(encoders)
        self.cell_list = nn.ModuleList(MAUCell(channels, self.grid, kernel_size, tau, cell_mode) for _ in widths)
        # decoders[k]: double the grid; LeakyReLU after every stage but the last
        decoders = []
        for k in range(self.stages):
            stage = OrderedDict([(f"c_decoder{k}", nn.ConvTranspose2d(channels, channels, 3, 2, 1, output_padding=1))])
            if k < self.stages - 1:
                stage[f"c_decoder_relu{k}"] = nn.LeakyReLU(0.2)
            decoders.append(nn.Sequential(stage))
        self.decoders = nn.ModuleList(decoders)
        self.srcnn = nn.Sequential(nn.Conv2d(channels, frame_channels, 1))
        # 1×1 convolutions the reference defines and never applies: buffers (docs/models/mau.md)
        self.merge = Unapplied(weight=(channels, 2 * channels, 1, 1), bias=(channels,))
        self.conv_last_sr = Unapplied(weight=(frame_channels, 2 * frame_channels, 1, 1), bias=(frame_channels,))

    def recurrent_cells(self) -> Sequence[nn.Module]:
        return self.cell_list

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W) -> predictions (B, T-1, C, H, W) of frames 1..T-1."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        x = fold_patches(frames, self.patch_size)
        mask = expand_mask(teacher_mask, x)
        b = x.shape[0]
        zeros = x.new_zeros(b, self.widths[0], *self.grid)
        t_state = [zeros for _ in self.cell_list]
        # per layer the last τ outputs T and inputs S, oldest first; zeros before the first steps
        t_windows = [[zeros] * self.tau for _ in self.cell_list]
        s_windows = [[zeros] * self.tau for _ in self.cell_list]

        outputs: list[Tensor] = []
        x_gen = x[:, 0]
        for step in range(x.shape[1] - 1):
            inp = step_input(step, x[:, step], x_gen, mask, self.input_length)
            features = []  # the encoder's maps, full grid first
            feature = inp
            for encoder in self.encoders:
                feature = encoder(feature)
                features.append(feature)
            s = feature
            for layer, cell in enumerate(self.cell_list):
                t_window = torch.stack(t_windows[layer])
                s_window = torch.stack(s_windows[layer])
                s_windows[layer] = [*s_windows[layer][1:], s]
                t_state[layer], s = cell(t_state[layer], s, t_window, s_window)
                t_windows[layer] = [*t_windows[layer][1:], t_state[layer]]
            out = s
            for k, decoder in enumerate(self.decoders):
                out = decoder(out)
                if self.recall:
                    out = out + features[-2 - k]  # the encoder map of out's size
            x_gen = self.srcnn(out)
            outputs.append(x_gen)
        return unfold_patches(torch.stack(outputs, dim=1), self.patch_size)

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one forward pass, counted from the conv shapes
        (what torch's FLOP counter counts: convolutions; a transposed one on its input grid)."""
        h, w = self.frame_grid
        per_step = conv_flops(self.cell_list, self.grid)
        for k, encoder in enumerate(self.encoders):
            per_step += conv_step_flops(encoder[0], (h // 2**k, w // 2**k))
        for k, decoder in enumerate(self.decoders):
            per_step += conv_step_flops(decoder[0], (self.grid[0] * 2**k, self.grid[1] * 2**k))
        per_step += conv_step_flops(self.srcnn[0], (h, w))
        return batch * (total_length - 1) * per_step


def check_sr_size(sr_size: Any, grid: tuple[int, int]) -> int:
    """A power of two that divides the patched frame grid (the encoder halves it log2(sr_size) times)."""
    h, w = grid
    fits = next(s for s in (4, 2, 1) if h % s == 0 and w % s == 0)  # an accepted value, for the message
    checks.integer("sr_size", sr_size, fits, minimum=1)
    if sr_size & (sr_size - 1):
        raise BadValue("sr_size", sr_size, "must be a power of two (1, 2, 4, ...)", fits)
    if h % sr_size or w % sr_size:
        raise BadValue("sr_size", sr_size, f"must divide the (patched) frame size {h}x{w}", fits)
    return sr_size
