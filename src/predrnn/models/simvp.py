"""SimVP and its successors (docs/models/simvp.md): video prediction without recurrence. The J
observed frames are encoded one by one, the J latent frames are stacked along channels and
mapped to the J next latent frames in one pass of a convolutional translator, and these are
decoded one by one. One call predicts a whole chunk of J frames.

Encoder (every frame alone, N_S layers; layers 2, 4, … halve the grid, so the latent grid is
(H, W) / 2^(N_S/2)). Each layer is a 'same' convolution (kernel `spatio_kernel_enc`) followed by
GroupNorm with 2 groups and SiLU:

    e_1 = SiLU(GN(conv(x)))              (full resolution: the skip to the decoder)
    z   = layer_N_S( … layer_2(e_1))     (hid_S channels on the latent grid)

Translator on Z = [z_1, …, z_J] stacked along channels (J·hid_S channels), three kinds:

- `incepu` (SimVP, CVPR 2022): a U-Net of N_T Inception blocks down and N_T up, the down path's
  outputs concatenated into the up path. An Inception block is a 1×1 convolution to hid_T/2
  channels, then the sum of four grouped branches, each LeakyReLU_0.2(GN(conv_k(·))) for
  k = 3, 5, 7, 11 (8 groups where hid_T/2 divides by 8, else 1).
- `gsta` (SimVPv2): N_T MetaFormer blocks (widths J·hid_S → hid_T → … → hid_T → J·hid_S, a 1×1
  `reduction` after a block whose width changes). A block, with BN batch norm and per-channel
  layer scales γ₁, γ₂:

      x = x + γ₁ · Attention(BN₁(x))          Attention(x) = proj₂(Gate(GELU(proj₁(x)))) + x
      x = x + γ₂ · MLP(BN₂(x))                MLP(x) = fc₂(GELU(dw3×3(fc₁(x))))   (width mlp_ratio·C)

  gated spatiotemporal attention: Gate(u) = σ(g) ∘ f, with [f, g] = conv1×1(dw7×7,dil3(dw5×5(u)))
  (a 21×21 receptive field from depth-wise convolutions).
- `tau` (TAU, CVPR 2023): the same blocks with the temporal attention unit:
  Gate(u) = SE(u) ∘ conv1×1(dw7×7,dil3(dw5×5(u))) ∘ u, where SE(u) = σ(W₂ ReLU(W₁ avgpool(u)))
  weighs the channels (that is, frames × features) from their spatial means.

Decoder (every frame alone): N_S layers mirroring the encoder, where a halving layer becomes a
convolution to 4× the channels and a 2× pixel shuffle; the encoder's e_1 is added before the last
layer, and a 1×1 `readout` gives the C channels of the frame. No output activation.

Beyond J frames the network is fed its own chunk (`SimVP.predict`, OpenSTL's horizon rule).

With `alpha` > 0 (TAU's recipe: 0.1) training adds alpha times TAU's differential divergence
between the predicted and true frame differences (`target_losses`, models/losses.py).
This is what OpenSTL's `SimVP_Model` computes (commit c74deb5); its state-dict keys are OpenSTL's,
so its checkpoints load with a plain `load_state_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models.api import FUTURE
from predrnn.models.losses import differential_divergence

MODEL_TYPES = ("incepu", "gsta", "tau")
INCEPTION_KERNELS = (3, 5, 7, 11)
INCEPTION_GROUPS = 8
ATTENTION_KERNEL = 21  # the receptive field of gSTA's and TAU's depth-wise convolutions
ATTENTION_DILATION = 3
LAYER_SCALE_INIT = 1e-2
DIFFERENTIAL_DIVERGENCE = "differential_divergence"  # TAU's regulariser, the name it is logged under


def halvings(layers: int) -> list[bool]:
    """Which of `layers` encoder layers halve the grid: every second one, from the second."""
    return [i % 2 == 1 for i in range(layers)]


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a whole sample's residual branch with probability p
    and scale the kept ones by 1/(1 − p); the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        mask = x.new_empty(x.shape[0], *([1] * (x.ndim - 1))).bernoulli_(keep)
        return x * mask / keep if keep > 0 else x * mask


def init_fan_out(module: nn.Module) -> None:
    """MetaFormer blocks' initialisation: convolutions N(0, 2 / fan-out) (fan-out = k·k·out /
    groups) with zero bias, linear layers truncated N(0, 0.02²) with zero bias."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


# -- encoder and decoder ---------------------------------------------------------------------


class ConvNormSiLU(nn.Module):
    """SiLU(GroupNorm₂(conv(x))): a 'same' convolution, of stride 2 when it halves the grid, or
    to 4× the channels and a 2× pixel shuffle when it doubles it (`conv` is then a Sequential)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, halve: bool = False, double: bool = False) -> None:
        super().__init__()
        stride = 2 if halve else 1
        padding = (kernel - stride + 1) // 2
        if double:
            self.conv: nn.Module = nn.Sequential(
                nn.Conv2d(c_in, 4 * c_out, kernel, padding=padding), nn.PixelShuffle(2)
            )
        else:
            self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding)
        self.norm = nn.GroupNorm(2, c_out)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(self.norm(self.conv(x)))


class SpatialLayer(nn.Module):
    """One encoder or decoder layer (the reference nests it once more: keys `….conv.conv.weight`)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, halve: bool = False, double: bool = False) -> None:
        super().__init__()
        self.conv = ConvNormSiLU(c_in, c_out, kernel, halve, double)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Encoder(nn.Module):
    """Frames (N, C, H, W) -> (latent (N, hid_S, H', W'), the first layer's output for the skip)."""

    def __init__(self, c_in: int, hid: int, layers: int, kernel: int) -> None:
        super().__init__()
        halve = halvings(layers)
        self.enc = nn.Sequential(*(SpatialLayer(c_in if i == 0 else hid, hid, kernel, halve=h)
                                   for i, h in enumerate(halve)))  # fmt: skip

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        skip = self.enc[0](x)
        latent = skip
        for layer in self.enc[1:]:
            latent = layer(latent)
        return latent, skip


class Decoder(nn.Module):
    """Latent (N, hid_S, H', W') and the encoder's skip -> frames (N, C, H, W)."""

    def __init__(self, hid: int, c_out: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.dec = nn.Sequential(*(SpatialLayer(hid, hid, kernel, double=d) for d in reversed(halvings(layers))))
        self.readout = nn.Conv2d(hid, c_out, 1)

    def forward(self, z: Tensor, skip: Tensor) -> Tensor:
        for layer in self.dec[:-1]:
            z = layer(z)
        return self.readout(self.dec[-1](z + skip))


# -- translator: IncepU (SimVP) ----------------------------------------------------------------


class GroupConv(nn.Module):
    """LeakyReLU_0.2(GroupNorm_g(grouped conv_k(x))), g groups (1 where they don't divide c_in)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int) -> None:
        super().__init__()
        groups = groups if c_in % groups == 0 else 1
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups)
        self.norm = nn.GroupNorm(groups, c_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)


class InceptionBlock(nn.Module):
    """A 1×1 convolution to c_hid channels, then the sum of the grouped branches k = 3, 5, 7, 11."""

    def __init__(self, c_in: int, c_hid: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_hid, 1)
        self.layers = nn.ModuleList(GroupConv(c_hid, c_out, k, INCEPTION_GROUPS) for k in INCEPTION_KERNELS)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        return sum(layer(x) for layer in self.layers)


class InceptionUNet(nn.Module):
    """SimVP's translator: N_T Inception blocks down (c_in -> hid_T -> … -> hid_T), N_T up
    (hid_T -> … -> c_in); up block i ≥ 1 reads [its input, down block N_T − 1 − i's output]."""

    def __init__(self, c_in: int, hid: int, depth: int) -> None:
        super().__init__()
        self.enc = nn.ModuleList(InceptionBlock(c_in if i == 0 else hid, hid // 2, hid) for i in range(depth))
        self.dec = nn.ModuleList(
            InceptionBlock(hid if i == 0 else 2 * hid, hid // 2, c_in if i == depth - 1 else hid) for i in range(depth)
        )

    def forward(self, z: Tensor) -> Tensor:
        skips = []
        for block in self.enc:
            z = block(z)
            skips.append(z)
        z = self.dec[0](z)
        for i, block in enumerate(self.dec[1:], start=2):
            z = block(torch.cat([z, skips[-i]], dim=1))
        return z


# -- translator: MetaFormer blocks with gSTA or TAU attention (SimVPv2, TAU) ---------------------


def depthwise_pair(dim: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    """A 5×5 depth-wise convolution, then a 7×7 one dilated by 3: together 21×21 (a large kernel
    decomposed, as in VAN)."""
    near = 2 * ATTENTION_DILATION - 1
    far = ATTENTION_KERNEL // ATTENTION_DILATION
    far += far % 2 - 1  # odd
    return (
        nn.Conv2d(dim, dim, near, padding=near // 2, groups=dim),
        nn.Conv2d(dim, dim, far, padding=ATTENTION_DILATION * (far - 1) // 2, groups=dim, dilation=ATTENTION_DILATION),
    )


class GatedSpatiotemporalGate(nn.Module):
    """gSTA: σ(g) ∘ f, [f, g] = conv1×1(dw7×7,dil3(dw5×5(u)))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv0, self.conv_spatial = depthwise_pair(dim)
        self.conv1 = nn.Conv2d(dim, 2 * dim, 1)

    def forward(self, u: Tensor) -> Tensor:
        f, g = self.conv1(self.conv_spatial(self.conv0(u))).chunk(2, dim=1)
        return torch.sigmoid(g) * f


class TemporalAttentionGate(nn.Module):
    """TAU: SE(u) ∘ conv1×1(dw7×7,dil3(dw5×5(u))) ∘ u, SE(u) = σ(W₂ ReLU(W₁ mean_hw(u))). The
    squeeze width is dim // max(dim // 16, 4) (the reference's rule: 16 for 80 channels, 4 for 16)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv0, self.conv_spatial = depthwise_pair(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        squeeze = dim // max(dim // 16, 4)
        self.fc = nn.Sequential(
            nn.Linear(dim, squeeze, bias=False), nn.ReLU(), nn.Linear(squeeze, dim, bias=False), nn.Sigmoid()
        )

    def forward(self, u: Tensor) -> Tensor:
        statical = self.conv1(self.conv_spatial(self.conv0(u)))
        dynamical = self.fc(u.mean(dim=(2, 3)))[:, :, None, None]
        return dynamical * statical * u


class Attention(nn.Module):
    """proj₂(Gate(GELU(proj₁(x)))) + x."""

    def __init__(self, dim: int, gate: nn.Module) -> None:
        super().__init__()
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.spatial_gating_unit = gate
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj_2(self.spatial_gating_unit(F.gelu(self.proj_1(x)))) + x


class ConvMLP(nn.Module):
    """fc₂(GELU(dw3×3(fc₁(x)))), dropout after the activation and at the end."""

    def __init__(self, dim: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dwconv = nn.Module()  # the reference nests it: key `dwconv.dwconv.weight`
        self.dwconv.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        x = self.drop(F.gelu(self.dwconv.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class MetaFormerBlock(nn.Module):
    """x + γ₁ · Attention(BN₁(x)), then x + γ₂ · MLP(BN₂(x)), each branch under stochastic depth."""

    def __init__(self, dim: int, model_type: str, mlp_ratio: float, drop: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = Attention(dim, GatedSpatiotemporalGate(dim))
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = ConvMLP(dim, int(dim * mlp_ratio), drop)
        self.layer_scale_1 = nn.Parameter(torch.full((dim,), LAYER_SCALE_INIT))
        self.layer_scale_2 = nn.Parameter(torch.full((dim,), LAYER_SCALE_INIT))
        init_fan_out(self)
        if model_type == "tau":
            # the reference swaps TAU's attention in after initialising: it keeps PyTorch's defaults
            self.attn = Attention(dim, TemporalAttentionGate(dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))


class MetaLayer(nn.Module):
    """A MetaFormer block of width c_in, then a 1×1 `reduction` to c_out where they differ."""

    def __init__(self, c_in: int, c_out: int, model_type: str, mlp_ratio: float, drop: float, drop_path: float):
        super().__init__()
        self.block = MetaFormerBlock(c_in, model_type, mlp_ratio, drop, drop_path)
        self.reduction = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.reduction(self.block(x))


class MetaFormerStack(nn.Module):
    """SimVPv2's and TAU's translator: N_T blocks, widths c_in -> hid_T -> … -> hid_T -> c_in.

    Stochastic depth as the reference's: linear from 0.01 (block 1) to `drop_path` (the last),
    so block 1 drops with probability 0.01 in training even when `drop_path` is 0."""

    def __init__(self, c_in: int, hid: int, depth: int, model_type: str, mlp_ratio: float, drop: float,
                 drop_path: float) -> None:  # fmt: skip
        super().__init__()
        rates = [0.01 + (drop_path - 0.01) * i / (depth - 1) for i in range(depth)]
        widths = [c_in] + [hid] * (depth - 1) + [c_in]
        self.enc = nn.ModuleList(
            MetaLayer(widths[i], widths[i + 1], model_type, mlp_ratio, drop, rates[i]) for i in range(depth)
        )

    def forward(self, z: Tensor) -> Tensor:
        for layer in self.enc:
            z = layer(z)
        return z


# -- the network -------------------------------------------------------------------------------


class SimVP(nn.Module):
    """SimVP (model_type `incepu`), SimVPv2 (`gsta`, OpenSTL's default) and TAU (`tau`): an
    encoder `enc`, a translator `hid` over the J latent frames stacked along channels, a decoder
    `dec` (module docstring).

    `forward_chunk(frames)`: J frames (B, J, C, H, W) -> the next J. `predict(frames, K)`:
    the next K frames by OpenSTL's horizon rule (chunks fed back, the last one cut).
    `forward(frames)` is `predict(frames, future_frames)` (default: J frames). It predicts a
    fixed horizon (`predicts = FUTURE`, models/api.py): no teacher mask.
    """

    predicts = FUTURE

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int | Sequence[int] = 64,
        input_length: int = 10,
        model_type: str = "gsta",
        hid_S: int = 16,
        hid_T: int = 256,
        N_S: int = 4,
        N_T: int = 4,
        mlp_ratio: float = 8.0,
        drop: float = 0.0,
        drop_path: float = 0.0,
        spatio_kernel_enc: int = 3,
        spatio_kernel_dec: int = 3,
        future_frames: int | None = None,
        alpha: float = 0.0,
    ) -> None:
        super().__init__()
        checks.integer("in_channels", in_channels, 1, minimum=1)
        height, width = checks.pair("image_size", image_size, 64)
        checks.integer("input_length", input_length, 10, minimum=1)
        if not isinstance(model_type, str) or model_type.lower() not in MODEL_TYPES:
            raise BadValue("model_type", model_type, f"is unknown: use one of {', '.join(MODEL_TYPES)} (any case)",
                           "gsta")  # fmt: skip
        kind = model_type.lower()
        checks.integer("N_S", N_S, 4, minimum=2)
        if N_S % 2:
            # the reference builds N_S - 1 layers for an odd N_S (and fails for 1)
            raise BadValue("N_S", N_S, "must be even (every second encoder layer halves the frame; OpenSTL "
                           f"builds {N_S - 1} layers for N_S={N_S})", N_S - 1)  # fmt: skip
        factor = 2 ** (N_S // 2)
        if height % factor or width % factor:
            fit = [-(-height // factor) * factor, -(-width // factor) * factor]
            raise BadValue(
                "image_size", [height, width],
                f"must be a multiple of {factor} in height and width (N_S={N_S} halves the frame "
                f"{N_S // 2}×; or a smaller model.N_S): sizes that work are {factor}, {2 * factor}, {3 * factor}, …",
                fit, group="data",  # the frame size comes from the data
            )  # fmt: skip
        checks.integer("hid_S", hid_S, 16, minimum=2)
        if hid_S % 2:
            raise BadValue("hid_S", hid_S, "must be even (group norm with 2 groups)", hid_S + 1)
        checks.integer("N_T", N_T, 4, minimum=2)
        channels = input_length * hid_S  # the translator's width: the J latent frames stacked
        if kind == "incepu":
            checks.integer("hid_T", hid_T, 256, minimum=2)
            # the branches' group norms take 8 groups where hid_T // 2 divides by 8 (else 1), and
            # the groups must divide the widths they normalise: hid_T and J·hid_S
            if (hid_T // 2) % INCEPTION_GROUPS == 0 and hid_T % INCEPTION_GROUPS:
                raise BadValue("hid_T", hid_T, f"makes incepu's group norms take {INCEPTION_GROUPS} groups "
                               f"(hid_T // 2 divides by {INCEPTION_GROUPS}), which must divide hid_T", hid_T - 1)  # fmt: skip
            if (hid_T // 2) % INCEPTION_GROUPS == 0 and channels % INCEPTION_GROUPS:
                fit = next(s for s in range(hid_S, hid_S + 16, 2) if input_length * s % INCEPTION_GROUPS == 0)
                raise BadValue(
                    "hid_S", hid_S,
                    f"times input_length {input_length} must divide by {INCEPTION_GROUPS} for incepu's group norms "
                    f"({INCEPTION_GROUPS} groups, as hid_T={hid_T} makes them)", fit,
                )  # fmt: skip
        else:
            checks.integer("hid_T", hid_T, 256, minimum=4 if kind == "tau" else 1)
            if kind == "tau" and channels < 4:
                raise BadValue("hid_S", hid_S, f"times input_length {input_length} must be at least 4 for tau "
                               "(its channel attention squeezes to a quarter)", 4)  # fmt: skip
        ratio = checks.number("mlp_ratio", mlp_ratio, 8.0)
        if ratio <= 1:
            raise BadValue("mlp_ratio", mlp_ratio, "must be > 1 (the MLP widens the channels)", 8.0)
        drop = checks.number("drop", drop, 0.0, minimum=0, below=1)
        drop_path = checks.number("drop_path", drop_path, 0.0, minimum=0, below=1)
        checks.integer("spatio_kernel_enc", spatio_kernel_enc, 3, minimum=1, odd=True)
        checks.integer("spatio_kernel_dec", spatio_kernel_dec, 3, minimum=1, odd=True)
        if future_frames is not None:
            checks.integer("future_frames", future_frames, input_length, minimum=1)
        alpha = checks.number("alpha", alpha, 0.1, minimum=0, below=math.inf)

        self.in_channels = in_channels
        self.image_size = (height, width)
        self.input_length = input_length
        self.model_type = kind
        self.future_frames = input_length if future_frames is None else future_frames
        self.alpha = alpha
        # TAU's regulariser, weighted by alpha, where alpha > 0 (`target_losses`)
        self.aux_losses = {DIFFERENTIAL_DIVERGENCE: alpha} if alpha > 0 else {}
        self.cells_compiled = False
        self.init_args: dict[str, Any] = {
            "in_channels": in_channels, "image_size": [height, width], "input_length": input_length,
            "model_type": kind, "hid_S": hid_S, "hid_T": hid_T, "N_S": N_S, "N_T": N_T, "mlp_ratio": ratio,
            "drop": drop, "drop_path": drop_path, "spatio_kernel_enc": spatio_kernel_enc,
            "spatio_kernel_dec": spatio_kernel_dec, "future_frames": future_frames, "alpha": alpha,
        }  # fmt: skip

        self.enc = Encoder(in_channels, hid_S, N_S, spatio_kernel_enc)
        self.dec = Decoder(hid_S, in_channels, N_S, spatio_kernel_dec)
        if kind == "incepu":
            self.hid: nn.Module = InceptionUNet(channels, hid_T, N_T)
        else:
            self.hid = MetaFormerStack(channels, hid_T, N_T, kind, ratio, drop, drop_path)

    def check_frames(self, frames: Tensor) -> None:
        """One clear error for frames the network cannot take."""
        if frames.ndim != 5:
            raise ValueError(f"frames must be (B, J, C, H, W), got shape {tuple(frames.shape)}")
        _, j, c, h, w = frames.shape
        if (c, h, w) != (self.in_channels, *self.image_size):
            raise ValueError(f"frames are {c}x{h}x{w} but the model expects "
                             f"{self.in_channels}x{self.image_size[0]}x{self.image_size[1]}")  # fmt: skip
        if j != self.input_length:
            raise ValueError(f"SimVP reads exactly input_length={self.input_length} frames at a time, got {j}")

    def forward_chunk(self, frames: Tensor) -> Tensor:
        """J observed frames (B, J, C, H, W) -> the next J frames (B, J, C, H, W)."""
        self.check_frames(frames)
        b, j, c, h, w = frames.shape
        latent, skip = self.enc(frames.reshape(b * j, c, h, w))
        _, hid_s, h_, w_ = latent.shape
        translated = self.hid(latent.reshape(b, j * hid_s, h_, w_))
        out = self.dec(translated.reshape(b * j, hid_s, h_, w_), skip)
        return out.reshape(b, j, c, h, w)

    def predict(self, frames: Tensor, num_predictions: int | None = None) -> Tensor:
        """The next K = `num_predictions` frames (default `future_frames`), (B, K, C, H, W).
        K ≤ J: the first K frames of one chunk. K > J: each chunk is the input of the next
        (⌈K/J⌉ chunks), the last one cut to the remainder."""
        k = self.future_frames if num_predictions is None else num_predictions
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"num_predictions must be a positive integer, got {k!r}")
        chunks = [self.forward_chunk(frames)]
        while len(chunks) * self.input_length < k:
            chunks.append(self.forward_chunk(chunks[-1]))
        return torch.cat(chunks, dim=1)[:, :k]

    def forward(self, frames: Tensor) -> Tensor:
        """J observed frames -> the next `future_frames` frames (`predict`)."""
        return self.predict(frames)

    def target_losses(self, predictions: Tensor, target: Tensor) -> dict[str, Tensor]:
        """TAU's differential divergence between the predicted and true frame differences
        (models/losses.py), in training where alpha > 0 (models/api.py, `target_losses`)."""
        if not self.alpha:
            return {}
        return {DIFFERENTIAL_DIVERGENCE: differential_divergence(predictions, target)}

    def forward_flops(self, batch: int, total_length: int) -> int:
        """FLOPs of predicting total_length − J frames for `batch` sequences: one chunk's count
        (torch's FLOP counter, one sequence) times the chunks."""
        from torch.utils.flop_counter import FlopCounterMode

        chunks = max(1, -(-(total_length - self.input_length) // self.input_length))
        param = next(self.parameters())
        frames = torch.zeros(1, self.input_length, self.in_channels, *self.image_size, device=param.device,
                             dtype=param.dtype)  # fmt: skip
        training = self.training
        self.eval()  # no batch-norm statistics updated, no dropout drawn
        try:
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                self.forward_chunk(frames)
        finally:
            self.train(training)
        return int(counter.get_total_flops()) * chunks * batch
