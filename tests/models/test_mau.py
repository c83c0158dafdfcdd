"""MAU (predrnn.models.mau) against OpenSTL's MAU_Model outputs (tests/fixtures/family_parity/README.md,
case `mau`), and its own behaviour: longer rollouts, training, argument checks, the modes."""

from __future__ import annotations

import pytest
import torch

from helpers import (
    assert_bad_argument,
    assert_compiled_cells_match,
    assert_every_parameter_learns,
    assert_exports_for_inference,
    assert_rebuilds_and_counts_its_flops,
    family_case,
    loaded_network,
    masked_and_inferred,
)
from predrnn.models.mau import MAU

# largest differences measured on CPU: float64 2.6e-8 (the fixture's float32 rounding), float32 9e-8
TOLERANCE = {torch.float64: 1e-5, torch.float32: 1e-5}


def mau_settings(data) -> dict:
    return {"tau": int(data["tau"]), "cell_mode": str(data["cell_mode"]), "model_mode": str(data["model_mode"]),
            "sr_size": int(data["sr_size"])}  # fmt: skip


@pytest.fixture(scope="module")
def case():
    return family_case("mau", MAU, mau_settings)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_openstl_under_the_mask_and_at_inference(case, dtype):
    trained, inferred = masked_and_inferred(loaded_network(case, dtype), case, dtype)
    assert trained.shape == case["next_frames"].shape and trained.dtype == dtype
    assert (trained.double() - case["next_frames"]).abs().max() <= TOLERANCE[dtype]
    assert (inferred.double() - case["next_frames_inference"]).abs().max() <= TOLERANCE[dtype]
    # the mask feeds back some of the network's own outputs: the two runs must differ after step J
    assert (case["next_frames"] - case["next_frames_inference"]).abs().max() > 1e-2


def test_predicts_more_frames_than_the_fixture(case):
    net = loaded_network(case)
    b, t = case["frames"].shape[:2]
    trained, inferred = masked_and_inferred(net, case, extra=5)
    assert inferred.shape == (b, t + 4, *case["frames"].shape[2:])
    # at inference, frames after J are never read: the first T-1 predictions are the fixture's
    assert (inferred[:, : t - 1] - case["next_frames_inference"]).abs().max() <= 1e-5
    assert (trained[:, : t - 1] - case["next_frames"]).abs().max() <= 1e-5
    assert torch.isfinite(inferred[:, t - 1 :]).all() and inferred[:, t - 1 :].abs().max() > 0


def test_trains_every_parameter(case):
    net = loaded_network(case, torch.float32).train()
    frames = case["frames"].float()
    predictions = net(frames, case["mask"])
    assert isinstance(predictions, torch.Tensor)  # no auxiliary losses
    torch.nn.functional.mse_loss(predictions, frames[:, 1:]).backward()
    assert_every_parameter_learns(net)
    # the reference's never-applied merge / conv_last_sr weights load, but are not trained
    names = dict(net.named_parameters())
    assert not any(n.startswith(("merge.", "conv_last_sr.")) for n in names)
    assert {"merge.weight", "conv_last_sr.bias"} <= set(net.state_dict())


def test_rebuilds_from_init_args_and_counts_its_flops(case):
    net = loaded_network(case)
    assert net.init_args == {**case["settings"], "image_size": [32, 32]}
    assert_rebuilds_and_counts_its_flops(net, case["frames"])


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
    assert_bad_argument(MAU, {**case["settings"], **changes}, key)


def test_residual_cells_and_recall_decoder_run_and_differ(case):
    frames = case["frames"][:, :14]
    with torch.no_grad():
        normal = loaded_network(case)(frames)
        residual = loaded_network(case, cell_mode="residual")(frames)
        recall = loaded_network(case, model_mode="recall")(frames)
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
    assert_exports_for_inference(net, (1, 4, 1, 16, 16))


def test_compiled_cells_give_the_same_predictions():
    net = MAU([4, 4], image_size=16, kernel_size=3, tau=2, sr_size=2, input_length=2).eval()
    assert_compiled_cells_match(net, torch.rand(2, 5, 1, 16, 16))
