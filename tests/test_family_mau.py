"""MAU (predrnn.models.mau) against OpenSTL's MAU_Model outputs (tests/fixtures/family_parity/README.md,
case `mau`), and its own behaviour: longer rollouts, training, argument checks, the modes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from predrnn.checkpoints.official import teacher_mask
from predrnn.errors import BadValue
from predrnn.models.mau import MAU

FIXTURES = Path(__file__).parent / "fixtures" / "family_parity"
# largest differences measured on CPU: float64 2.6e-8 (the fixture's float32 rounding), float32 9e-8
TOLERANCE = {torch.float64: 1e-5, torch.float32: 1e-5}


@pytest.fixture(scope="module")
def case():
    data = np.load(FIXTURES / "mau.npz", allow_pickle=False)
    state = torch.load(FIXTURES / "mau.pth", map_location="cpu", weights_only=True)["state_dict"]
    settings = {
        "hidden_channels": [int(w) for w in data["hidden"]], "in_channels": int(data["img_channel"]),
        "image_size": int(data["img_width"]), "patch_size": int(data["patch_size"]),
        "kernel_size": int(data["filter_size"]), "tau": int(data["tau"]), "cell_mode": str(data["cell_mode"]),
        "model_mode": str(data["model_mode"]), "sr_size": int(data["sr_size"]),
        "input_length": int(data["input_length"]),
    }  # fmt: skip
    j, t = int(data["input_length"]), int(data["total_length"])
    channels_first = lambda a: torch.from_numpy(a).permute(0, 1, 4, 2, 3).double()  # noqa: E731
    return {
        "settings": settings,
        "state": state,
        "frames": channels_first(data["frames"]),
        "mask": teacher_mask(torch.from_numpy(data["teacher_mask"]), j, t, reverse=False),
        "next_frames": channels_first(data["next_frames"]),
        "next_frames_inference": channels_first(data["next_frames_inference"]),
    }


def loaded(case, dtype=torch.float64, **changes) -> MAU:
    net = MAU(**{**case["settings"], **changes})
    net.load_state_dict(case["state"])  # strict: every reference key, no other
    return net.to(dtype).eval()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_openstl_under_the_mask_and_at_inference(case, dtype):
    net = loaded(case, dtype)
    frames = case["frames"].to(dtype)
    with torch.no_grad():
        trained = net(frames, case["mask"])
        inferred = net(frames)
    assert trained.shape == case["next_frames"].shape and trained.dtype == dtype
    assert (trained.double() - case["next_frames"]).abs().max() <= TOLERANCE[dtype]
    assert (inferred.double() - case["next_frames_inference"]).abs().max() <= TOLERANCE[dtype]
    # the mask feeds back some of the network's own outputs: the two runs must differ after step J
    assert (case["next_frames"] - case["next_frames_inference"]).abs().max() > 1e-2


def test_predicts_more_frames_than_the_fixture(case):
    net = loaded(case)
    b, t = case["frames"].shape[:2]
    longer = torch.cat([case["frames"], torch.rand(b, 5, *case["frames"].shape[2:], dtype=torch.float64)], dim=1)
    extra_mask = torch.cat([case["mask"], torch.ones(b, 5)], dim=1)
    with torch.no_grad():
        inferred = net(longer)
        trained = net(longer, extra_mask)
    assert inferred.shape == (b, t + 4, *case["frames"].shape[2:])
    # at inference, frames after J are never read: the first T-1 predictions are the fixture's
    assert (inferred[:, : t - 1] - case["next_frames_inference"]).abs().max() <= 1e-5
    assert (trained[:, : t - 1] - case["next_frames"]).abs().max() <= 1e-5
    assert torch.isfinite(inferred[:, t - 1 :]).all() and inferred[:, t - 1 :].abs().max() > 0


def test_trains_every_parameter(case):
    net = loaded(case, torch.float32).train()
    frames = case["frames"].float()
    predictions = net(frames, case["mask"])
    assert isinstance(predictions, torch.Tensor)  # no auxiliary losses
    torch.nn.functional.mse_loss(predictions, frames[:, 1:]).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().max() > 0, name
    # the reference's never-applied merge / conv_last_sr weights load, but are not trained
    names = dict(net.named_parameters())
    assert not any(n.startswith(("merge.", "conv_last_sr.")) for n in names)
    assert {"merge.weight", "conv_last_sr.bias"} <= set(net.state_dict())


def test_rebuilds_from_init_args_and_counts_its_flops(case):
    net = loaded(case)
    rebuilt = MAU(**net.init_args)
    assert net.init_args == {**case["settings"], "image_size": [32, 32]}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(case["frames"])
    assert net.forward_flops(2, 20) == counter.get_total_flops()


BAD = [
    ({"tau": 0}, "tau"),
    ({"tau": 2.5}, "tau"),
    ({"sr_size": 3}, "sr_size"),
    ({"sr_size": 0}, "sr_size"),
    ({"sr_size": 64}, "sr_size"),  # a power of two larger than the 32 × 32 grid
    ({"sr_size": 8, "image_size": 20}, "sr_size"),
    ({"sr_size": 4, "patch_size": 16}, "sr_size"),  # the patched grid is 2 × 2
    ({"cell_mode": "residul"}, "cell_mode"),
    ({"model_mode": "Recall"}, "model_mode"),
    ({"hidden_channels": [8, 16]}, "hidden_channels"),
    ({"kernel_size": 4}, "kernel_size"),
]


@pytest.mark.parametrize(("changes", "key"), BAD)
def test_bad_arguments_are_one_line_errors(case, changes, key):
    args = {**case["settings"], **changes}
    with pytest.raises(BadValue) as error:
        MAU(**args)
    message = str(error.value)
    assert error.value.key == key and "\n" not in message and message.startswith(f"{key}=")
    # the example it offers (as a config value) is accepted
    example = re.search(rf"e\.g\. {key}=(.+)$", message).group(1)
    MAU(**{**args, key: yaml.safe_load(example)})


def test_residual_cells_and_recall_decoder_run_and_differ(case):
    frames = case["frames"][:, :14]
    with torch.no_grad():
        normal = loaded(case)(frames)
        residual = loaded(case, cell_mode="residual")(frames)
        recall = loaded(case, model_mode="recall")(frames)
    for other in (residual, recall):
        assert other.shape == normal.shape and torch.isfinite(other).all()
        assert (other - normal).abs().max() > 1e-3
    assert (residual - recall).abs().max() > 1e-3


@pytest.mark.parametrize(("sr_size", "patch_size"), [(1, 1), (2, 2)])
def test_other_scales_and_patches(sr_size, patch_size):
    net = MAU([4, 4], in_channels=2, image_size=[16, 8], patch_size=patch_size, kernel_size=3, tau=2,
              model_mode="recall", sr_size=sr_size, input_length=2).eval()  # fmt: skip
    assert len(net.decoders) == len(net.encoders) - 1 == {1: 0, 2: 1}[sr_size]
    with torch.no_grad():
        out = net(torch.rand(3, 5, 2, 16, 8))
    assert out.shape == (3, 4, 2, 16, 8) and torch.isfinite(out).all()


def test_exports_for_inference():
    net = MAU([4, 4], image_size=16, kernel_size=3, tau=2, sr_size=2, input_length=2).eval()
    program = torch.export.export(net, (torch.rand(1, 4, 1, 16, 16),), strict=False)
    other = torch.rand(1, 4, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(program.module()(other), net(other))


def test_compiled_cells_give_the_same_predictions():
    net = MAU([4, 4], image_size=16, kernel_size=3, tau=2, sr_size=2, input_length=2).eval()
    frames = torch.rand(2, 5, 1, 16, 16)
    with torch.no_grad():
        eager = net(frames)
        net.compile_cells(mode=None, backend="eager")  # dynamo's tracing, without a C++ compiler
        compiled = net(frames)
    assert torch.allclose(compiled, eager)
    assert set(net.state_dict()) == set(MAU(**net.init_args).state_dict())  # keys unchanged
