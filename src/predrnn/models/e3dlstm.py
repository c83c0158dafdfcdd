"""Eidetic 3D LSTM (Wang et al., ICLR 2019): stacked E3D-LSTM cells whose gates are 3D
convolutions over a short window of frames, whose temporal memory C recalls its past states
through attention, and whose global memory M zigzags through the layers as in PredRNN
(docs/models/e3dlstm.md).

The paper's cell (eqs. 1-2), with * a 3D convolution over (window, H, W), M from the layer below
(layer 1: from the top layer at the previous step):

    R = σ(W_xr * X + W_hr * H)     I = σ(W_xi * X + W_hi * H)     G = tanh(W_xg * X + W_hg * H)
    Recall(R, C_{t−τ:t−1}) = softmax(R · C_{t−τ:t−1}ᵀ) · C_{t−τ:t−1}     (the last τ cell states)
    C' = I ⊙ G + LayerNorm(C + Recall(R, C_{t−τ:t−1}))
    I' = σ(W'_xi * X + W_mi * M)   G' = tanh(W'_xg * X + W_mg * M)   F' = σ(W'_xf * X + W_mf * M)
    M' = I' ⊙ G' + F' ⊙ M
    O = σ(W_xo * X + W_ho * H + W_co * C' + W_mo * M')
    H' = O ⊙ tanh(W_1×1×1 * [C', M'])

This module computes what the released code computes (the authors' TensorFlow code, and
OpenSTL's port, whose checkpoints load here as they are), which departs from the paper in
ways docs/models/e3dlstm.md lists: M' = F' ⊙ tanh(W_mm * M) + I' ⊙ G' with a forget bias of 1,
O = σ(tanh(…)), the recall over every past C (the zero initial one included), and the
attention's tokens. One departure is a fault, and a switch here: the released cell returns
the global memory it was given, so M stays zero for good (`update_global_memory=False`
reproduces it); by default M' flows on, as the paper describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models.cells import LAYER_NORMS, with_layer_norm
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.recurrent import RecurrentNetwork, check_frames, expand_mask, step_input

FORGET_BIAS = 1.0  # added to the global memory's forget gate, as in the released code


class WindowConv(nn.Module):
    """A bias-free 3D convolution over (window, H, W): 'same' in space, 'valid' in time, its
    output then stretched back over the whole window by nearest-neighbour repetition, so every
    state keeps the window's length (OpenSTL's `tf_Conv3d`; with the (2, 5, 5) kernel over a
    window of 2, one output time step is repeated twice)."""

    def __init__(self, cin: int, cout: int, kernel_size: Sequence[int]) -> None:
        super().__init__()
        kt, kh, kw = kernel_size
        self.conv3d = nn.Conv3d(cin, cout, (kt, kh, kw), padding=(0, kh // 2, kw // 2), bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv3d(x)
        if y.shape[2] != x.shape[2]:
            y = F.interpolate(y, size=x.shape[-3:], mode="nearest")
        return y


def window_gates(
    cin: int, cout: int, kernel_size: Sequence[int], layer_norm: bool | str, size: tuple[int, int, int]
) -> nn.Sequential:
    """A window convolution, followed by layer norm when asked: `True` normalises each sample
    over (C, window, H, W) with a gain and bias per channel; `"elementwise"` with a gain and bias
    per element of (C, window, H, W), as the reference code's `layer_norm` does. Always a
    Sequential (the reference's keys: `<name>.0.conv3d.weight`)."""
    return with_layer_norm(WindowConv(cin, cout, kernel_size), cout, layer_norm, size, always_sequential=True)


class EideticCell(nn.Module):
    """One E3D-LSTM step on states of shape (B, hidden, window, H, W).

    Submodules carry the reference code's names (`conv_x`, `_norm_c_t`, …) so that its
    checkpoints load as they are. All gate terms that share an input come from one convolution
    split along channels:

        conv_x:  X  -> 7·hidden  (i, g, r, o, i', g', f')
        conv_h:  H  -> 4·hidden  (i, g, r, o)
        conv_gm: M  -> 4·hidden  (i', f', g', m)
        conv_new_cell: C' -> hidden,  conv_new_gm: M' -> hidden   (the output gate's terms)
        conv_last (1×1×1): [C', M'] -> hidden
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, window_length: int, grid: tuple[int, int],
        kernel_size: Sequence[int], layer_norm: bool | str,
    ) -> None:  # fmt: skip
        super().__init__()
        self.hidden_channels = hc = hidden_channels
        size = (window_length, *grid)
        # the normalisation of the recalled memory is part of the cell (always on, per element)
        self._norm_c_t = nn.LayerNorm([hc, *size])
        self.conv_x = window_gates(in_channels, 7 * hc, kernel_size, layer_norm, size)
        self.conv_h = window_gates(hc, 4 * hc, kernel_size, layer_norm, size)
        self.conv_gm = window_gates(hc, 4 * hc, kernel_size, layer_norm, size)
        self.conv_new_cell = window_gates(hc, hc, kernel_size, layer_norm, size)
        self.conv_new_gm = window_gates(hc, hc, kernel_size, layer_norm, size)
        self.conv_last = WindowConv(2 * hc, hc, (1, 1, 1))

    def tokens(self, state: Tensor) -> Tensor:
        """(B, hidden, window, H, W) -> (B, N, hidden): the released PyTorch code's raw reshape.
        Each token is `hidden` consecutive values of the flattened channel-first state, not one
        position's channel vector (the TensorFlow original is channels-last, where the same
        reshape gives positions); kept for parity (docs/models/e3dlstm.md, "Other quirks")."""
        return state.reshape(state.shape[0], -1, self.hidden_channels)

    def recall(self, r: Tensor, history: Tensor) -> Tensor:
        """Recall(r, C_0 … C): attention of the recall gate's tokens over the tokens of all past
        cell states `history` (B, K·N, hidden), which are both keys and values; no 1/√d scale."""
        query, keys = self.tokens(r)[:, None], history[:, None]  # one attention head (ONNX wants 4D)
        attended = F.scaled_dot_product_attention(query, keys, keys, scale=1.0)
        return attended.reshape(r.shape)

    def forward(self, x: Tensor, h: Tensor, c: Tensor, m: Tensor, history: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step. `history` holds the tokens of this layer's cell states so far (C included).
        Returns (H', C', M')."""
        hc = self.hidden_channels
        x_i, x_g, x_r, x_o, x_i_, x_g_, x_f_ = torch.split(self.conv_x(x), hc, dim=1)
        h_i, h_g, h_r, h_o = torch.split(self.conv_h(h), hc, dim=1)
        m_i, m_f, m_g, m_m = torch.split(self.conv_gm(m), hc, dim=1)

        # eidetic memory: C plus what the recall gate reads from all past C, normalised
        i = torch.sigmoid(x_i + h_i)
        r = torch.sigmoid(x_r + h_r)
        g = torch.tanh(x_g + h_g)
        c_new = self._norm_c_t(c + self.recall(r, history)) + i * g

        # global memory, read from the layer below (or the top layer at the previous step)
        i_ = torch.sigmoid(x_i_ + m_i)
        f_ = torch.sigmoid(x_f_ + m_f + FORGET_BIAS)
        g_ = torch.tanh(x_g_ + m_g)
        m_new = f_ * torch.tanh(m_m) + i_ * g_

        # output: both memories feed the gate and, through a 1×1×1 convolution, H
        o = torch.tanh(x_o + h_o + self.conv_new_cell(c_new) + self.conv_new_gm(m_new))
        h_new = torch.sigmoid(o) * torch.tanh(self.conv_last(torch.cat([c_new, m_new], dim=1)))
        return h_new, c_new, m_new


def check_kernel(kernel_size: Any, window_length: int) -> list[int]:
    """[kt, kh, kw]: a temporal extent 1 … window_length, odd spatial extents."""
    example = [min(2, window_length), 5, 5]
    if isinstance(kernel_size, (str, int)) or not isinstance(kernel_size, Sequence) or len(kernel_size) != 3:
        raise BadValue("kernel_size", kernel_size, "must be [time, height, width]", example)
    kernel = list(kernel_size)
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in kernel):
        raise BadValue("kernel_size", kernel, "must be three positive integers [time, height, width]", example)
    if kernel[0] > window_length:
        raise BadValue("kernel_size", kernel, f"has a time extent longer than window_length {window_length}", example)
    if kernel[1] % 2 == 0 or kernel[2] % 2 == 0:
        raise BadValue("kernel_size", kernel, "must have odd height and width (for 'same' padding)", example)
    return kernel


class E3DLSTM(RecurrentNetwork):
    """Stacked E3D-LSTM cells over windows of patched frames.

    Step t sees the window of its last `window_length` inputs (frames t − window + 1 … t, zero
    frames before the first), stacked on a time axis. Each layer keeps H and C over that window,
    and all its past C for recall; M passes from layer to layer and on to the next step. A
    window-long convolution with stride = window turns the top H into the prediction of frame
    t + 1.
    """

    patched_frame_weights = {"in": ("cell_list.0.conv_x.0.conv3d.weight",), "out": ("conv_last.weight",)}

    def __init__(
        self,
        hidden_channels: Sequence[int] = (128, 128, 128, 128),
        in_channels: int = 1,
        image_size: int | Sequence[int] = 64,
        patch_size: int = 4,
        kernel_size: Sequence[int] = (2, 5, 5),
        window_length: int = 2,
        update_global_memory: bool = True,
        layer_norm: bool | str = False,
        input_length: int = 10,
    ) -> None:
        super().__init__(hidden_channels, in_channels, image_size, patch_size, input_length)
        widths = self.widths
        if len(set(widths)) > 1:
            raise BadValue(
                "hidden_channels", widths, "must all be equal: the global memory passes through every layer",
                [widths[0]] * len(widths),
            )  # fmt: skip
        checks.integer("window_length", window_length, 2, minimum=1)
        if window_length > input_length:
            raise BadValue(
                "window_length", window_length, f"must not exceed input_length {input_length}", min(2, input_length)
            )
        kernel = check_kernel(kernel_size, window_length)
        checks.boolean("update_global_memory", update_global_memory)
        checks.choice("layer_norm", layer_norm, LAYER_NORMS, "true")
        self.keep_init_args(kernel_size=kernel, window_length=window_length,
                            update_global_memory=update_global_memory, layer_norm=layer_norm)  # fmt: skip
        self.window_length = window_length
        self.update_global_memory = update_global_memory
        norm = layer_norm or False  # here 0 means no layer norm too (models/cells.py reads only False so)
        self.cell_list = nn.ModuleList(
            EideticCell(self.frame_channels if i == 0 else widths[i - 1], w, window_length, self.grid, kernel, norm)
            for i, w in enumerate(widths)
        )
        window = (window_length, 1, 1)
        self.conv_last = nn.Conv3d(widths[-1], self.frame_channels, window, stride=window, bias=False)

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W) -> predictions (B, T-1, C, H, W) of frames 1..T-1."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        x = fold_patches(frames, self.patch_size)
        b, _, _, height, width = x.shape
        state_shape = (self.window_length, height, width)
        h = [x.new_zeros(b, w, *state_shape) for w in self.widths]
        c = [x.new_zeros(b, w, *state_shape) for w in self.widths]
        history: list[Tensor | None] = [None] * len(self.widths)  # per layer, tokens of all its C so far
        m = x.new_zeros(b, self.widths[0], *state_shape)
        mask = expand_mask(teacher_mask, x)

        window = [x.new_zeros(b, self.frame_channels, height, width)] * (self.window_length - 1)
        outputs: list[Tensor] = []
        x_gen = x[:, 0]
        for step in range(frames.shape[1] - 1):
            window = [*window, step_input(step, x[:, step], x_gen, mask, self.input_length)][-self.window_length :]
            inp = torch.stack(window, dim=2)  # (B, C·p², window, H/p, W/p), oldest first
            for layer, cell in enumerate(self.cell_list):
                tokens = cell.tokens(c[layer])
                history[layer] = tokens if history[layer] is None else torch.cat([history[layer], tokens], dim=1)
                h[layer], c[layer], m_new = cell(inp, h[layer], c[layer], m, history[layer])
                if self.update_global_memory:  # the released code keeps M as it was given (zero)
                    m = m_new
                inp = h[layer]
            x_gen = self.conv_last(h[-1]).squeeze(2)
            outputs.append(x_gen)
        return unfold_patches(torch.stack(outputs, dim=1), self.patch_size)

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one forward pass: the 3D convolutions' shapes, plus
        the recall attention, whose keys grow by one cell state a step."""
        steps = total_length - 1
        cells = 0
        for conv in self.modules():
            if isinstance(conv, nn.Conv3d):
                kt, kh, kw = conv.kernel_size
                depth = (self.window_length - kt) // conv.stride[0] + 1
                macs = conv.in_channels * conv.out_channels * kt * kh * kw * depth * self.grid[0] * self.grid[1]
                cells += 2 * macs // conv.groups
        tokens = self.window_length * self.grid[0] * self.grid[1]  # N per cell state
        # step t attends N queries to (t + 1)·N keys, twice (scores, then the weighted sum)
        recall = sum(2 * 2 * tokens * (t + 1) * tokens * w for t in range(steps) for w in self.widths)
        return batch * (steps * cells + recall)
