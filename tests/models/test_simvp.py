"""SimVP (predrnn.models.simvp) against OpenSTL's SimVP_Model outputs (tests/fixtures/simvp_parity/
README.md: cases `simvp` = IncepU, `simvp_gsta` = gSTA, `tau`), the horizon rule, OpenSTL's two
checkpoint forms, and the argument checks.

The references were computed in float64 from the stored float32 weights and frames, then stored
as float32: a float64 run here differs from them by their own rounding only (half an ulp, 3e-8 at
0.7). Largest absolute differences measured on CPU (outputs' scale 0.44-0.70):

    case        dtype    future   future_longer  future_shorter
    simvp       float64  4.1e-8   4.1e-8         3.8e-8
    simvp_gsta  float64  4.1e-8   4.1e-8         4.1e-8
    tau         float64  2.2e-8   2.3e-8         2.2e-8
    (float32 runs: 1.8e-7, 2.7e-7, 1.5e-7 over all three outputs)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helpers import (
    TESTS,
    assert_bad_argument,
    assert_every_parameter_learns,
    assert_exports_for_inference,
    state_shapes,
)
from predrnn.checkpoints.openstl import openstl_weights
from predrnn.errors import BadValue
from predrnn.models import api
from predrnn.models.simvp import SimVP

FIXTURES = TESTS / "fixtures" / "simvp_parity"
CASES = ("simvp", "simvp_gsta", "tau")
OUTPUTS = ("future", "future_longer", "future_shorter")
TOLERANCE = {torch.float64: 1e-7, torch.float32: 1e-6}  # absolute, outputs of scale ~0.5


def settings_of(data) -> dict:
    """SimVP's arguments from the settings an npz records."""
    return {
        "in_channels": int(data["img_channel"]), "image_size": int(data["img_width"]),
        "input_length": int(data["input_length"]), "model_type": str(data["model_type"]),
        "hid_S": int(data["hid_S"]), "hid_T": int(data["hid_T"]), "N_S": int(data["N_S"]), "N_T": int(data["N_T"]),
        "mlp_ratio": float(data["mlp_ratio"]), "spatio_kernel_enc": int(data["spatio_kernel_enc"]),
        "spatio_kernel_dec": int(data["spatio_kernel_dec"]),
    }  # fmt: skip


@pytest.fixture(scope="module", params=CASES)
def case(request):
    with np.load(FIXTURES / f"{request.param}.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    checkpoint = torch.load(FIXTURES / f"{request.param}.pth", map_location="cpu", weights_only=True)
    return {
        "name": request.param, "settings": settings_of(data), "checkpoint": checkpoint,
        "frames": torch.from_numpy(data["frames"]).double(),
        "lengths": {"future": int(data["input_length"]), "future_longer": int(data["future_longer_length"]),
                    "future_shorter": int(data["future_shorter_length"])},
        **{k: torch.from_numpy(data[k]).double() for k in OUTPUTS},
    }  # fmt: skip


def loaded(case, dtype=torch.float64, **changes) -> SimVP:
    net = SimVP(**{**case["settings"], **changes})
    net.load_state_dict(case["checkpoint"]["state_dict"])  # strict: every key, no other
    return net.to(dtype).eval()


def largest(a, b) -> float:
    return (a.double() - b).abs().max().item()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_openstl_for_every_horizon(case, dtype):
    net = loaded(case, dtype)
    with torch.no_grad():
        for output in OUTPUTS:
            predicted = net.predict(case["frames"].to(dtype), case["lengths"][output])
            assert predicted.shape == case[output].shape and predicted.dtype == dtype
            assert largest(predicted, case[output]) <= TOLERANCE[dtype], output
    # the fixture tells a wrong feedback apart: each chunk of the longer run differs from the first
    j = case["lengths"]["future"]
    assert (case["future_longer"][:, j : 2 * j] - case["future"]).abs().max() > 1e-2


def test_the_horizon_rule(case):
    """K = J: one chunk; K < J: its first K frames; K > J: each chunk is the next one's input, the
    last cut to the remainder. `forward` predicts `future_frames` frames (default J)."""
    net = loaded(case)
    frames, j = case["frames"], case["lengths"]["future"]
    with torch.no_grad():
        first = net.forward_chunk(frames)
        second = net.forward_chunk(first)
        third = net.forward_chunk(second)
        assert torch.equal(net.predict(frames, j), first) and torch.equal(net(frames), first)
        assert torch.equal(net.predict(frames, 3), first[:, :3])
        assert torch.equal(net.predict(frames, 2 * j + 3), torch.cat([first, second, third[:, :3]], dim=1))
        assert torch.equal(loaded(case, future_frames=j + 1)(frames), torch.cat([first, second[:, :1]], dim=1))


def test_the_lightning_checkpoint_form_loads_bare(case):
    """OpenSTL's Lightning branch saves the same keys prefixed `model.`;
    `predrnn.checkpoints.openstl.openstl_weights` strips the prefix."""
    weights = case["checkpoint"]["state_dict"]
    lightning = {"epoch": 3, "global_step": 30, "state_dict": {f"model.{k}": v for k, v in weights.items()},
                 "hyper_parameters": {"model_type": case["settings"]["model_type"]}}  # fmt: skip
    bare = openstl_weights(lightning)
    assert set(bare) == set(weights)
    assert openstl_weights(case["checkpoint"]).keys() == weights.keys()
    net = SimVP(**case["settings"])
    net.load_state_dict(bare)
    with torch.no_grad():
        assert largest(net.double().eval().forward_chunk(case["frames"]), case["future"]) <= TOLERANCE[torch.float64]


def test_keys_are_openstls_and_it_rebuilds_from_init_args(case):
    net = loaded(case)
    reference = case["checkpoint"]["state_dict"]
    assert state_shapes(net) == {k: v.shape for k, v in reference.items()}
    assert state_shapes(SimVP(**net.init_args)) == state_shapes(net)
    assert net.init_args["model_type"] == case["settings"]["model_type"].lower()
    assert net.init_args["image_size"] == [32, 32] and net.init_args["future_frames"] is None


def test_counts_its_flops(case):
    from torch.utils.flop_counter import FlopCounterMode

    net = loaded(case)
    frames = case["frames"][:1]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.predict(frames, 23)
    assert net.forward_flops(2, 10 + 23) == 2 * counter.get_total_flops() > 0


def test_trains_every_parameter(case):
    # freshly initialised (the fixture's random weights leave TAU's squeeze ReLUs dead on its frames)
    torch.manual_seed(0)
    net = SimVP(**case["settings"]).train()
    frames = case["frames"].float()
    predictions = net.predict(frames, 12)
    torch.nn.functional.mse_loss(predictions, torch.rand_like(predictions)).backward()
    assert_every_parameter_learns(net)


def test_model_type_is_case_insensitive():
    small = {"image_size": 16, "input_length": 4, "hid_S": 4, "hid_T": 16, "N_S": 2, "N_T": 2}
    for name in ("gSTA", "GSTA", "gsta"):
        assert SimVP(model_type=name, **small).init_args["model_type"] == "gsta"
    assert {"incepu", "tau"} == {SimVP(model_type=m, **small).model_type for m in ("IncepU", "TAU")}


def test_openstls_stochastic_depth_rule():
    """Block 1 drops its branches with probability 0.01 in training even at drop_path 0; the
    rate rises linearly to drop_path at the last block."""
    net = SimVP(image_size=16, input_length=4, hid_S=4, hid_T=16, N_S=2, N_T=3, drop_path=0.2)
    assert [layer.block.drop_path.p for layer in net.hid.enc] == pytest.approx([0.01, 0.105, 0.2])
    assert SimVP(image_size=16, input_length=4, hid_S=4, hid_T=16, N_S=2).hid.enc[0].block.drop_path.p == 0.01


def test_frames_it_cannot_take():
    net = SimVP(image_size=16, input_length=4, hid_S=4, hid_T=16, N_S=2, N_T=2)
    with pytest.raises(ValueError, match="exactly input_length=4"):
        net.forward_chunk(torch.rand(1, 5, 1, 16, 16))
    with pytest.raises(ValueError, match="expects 1x16x16"):
        net.forward_chunk(torch.rand(1, 4, 1, 16, 8))
    with pytest.raises(ValueError, match="num_predictions"):
        net.predict(torch.rand(1, 4, 1, 16, 16), 0)


BAD = [
    ({"model_type": "convlstm"}, "model_type"),
    ({"model_type": None}, "model_type"),
    ({"image_size": 31}, "image_size"),  # N_S 2 halves once: odd sizes fail
    ({"image_size": [32, 34], "N_S": 4}, "image_size"),  # N_S 4 halves twice: 34 is not a multiple of 4
    ({"N_S": 3}, "N_S"),  # the reference would build 2 layers
    ({"N_S": 0}, "N_S"),
    ({"N_T": 1}, "N_T"),
    ({"hid_T": 0}, "hid_T"),
    ({"hid_T": 17, "model_type": "incepu"}, "hid_T"),
    ({"hid_T": 2, "model_type": "tau"}, "hid_T"),
    ({"hid_S": 7}, "hid_S"),  # group norm of 2 groups
    ({"hid_S": 2, "input_length": 3, "model_type": "incepu"}, "hid_S"),  # 6 channels, 8 groups
    ({"hid_S": 2, "input_length": 1, "model_type": "tau"}, "hid_S"),
    ({"mlp_ratio": 1.0}, "mlp_ratio"),
    ({"drop": 1.0}, "drop"),
    ({"drop_path": -0.1}, "drop_path"),
    ({"spatio_kernel_enc": 4}, "spatio_kernel_enc"),
    ({"spatio_kernel_dec": 0}, "spatio_kernel_dec"),
    ({"future_frames": 0}, "future_frames"),
    ({"alpha": -0.1}, "alpha"),
    ({"alpha": float("inf")}, "alpha"),
    ({"alpha": "0.1"}, "alpha"),
    ({"input_length": 0}, "input_length"),
    ({"in_channels": 0}, "in_channels"),
]


@pytest.mark.parametrize(("changes", "key"), BAD)
def test_bad_arguments_are_one_line_errors(changes, key):
    args = {"image_size": 32, "input_length": 10, "hid_S": 8, "hid_T": 16, "N_S": 2, "N_T": 2}
    if key != "image_size":
        assert_bad_argument(SimVP, {**args, **changes}, key)
        return
    with pytest.raises(BadValue) as error:  # the frame size is the data's: named data.image_size
        SimVP(**{**args, **changes})
    message = str(error.value)
    assert "\n" not in message and message.startswith("data.image_size=") and "or a smaller model.N_S" in message
    fit = yaml.safe_load(message.rpartition("e.g. data.image_size=")[2])
    SimVP(**{**args, **changes, "image_size": fit})


@pytest.mark.parametrize("model_type", ["incepu", "gsta", "tau"])
def test_other_sizes_and_export(model_type):
    # J 3, C 2, a non-square frame halved twice, IncepU with ungrouped branches (hid_T/2 = 6)
    net = SimVP(in_channels=2, image_size=[16, 8], input_length=3, model_type=model_type, hid_S=4, hid_T=12,
                N_S=4, N_T=3, spatio_kernel_enc=5, future_frames=7).eval()  # fmt: skip
    with torch.no_grad():
        out = net(torch.rand(2, 3, 2, 16, 8))
    assert out.shape == (2, 7, 2, 16, 8) and torch.isfinite(out).all()
    assert_exports_for_inference(net, (1, 3, 2, 16, 8))


# --- OpenSTL's checkpoints through the entry points, described by model=simvp overrides ----------


def described_by(case) -> list[str]:
    """The model and data overrides that describe a fixture's checkpoint."""
    s = case["settings"]
    return ["model=simvp", f"model.model_type={s['model_type']}", f"model.hid_S={s['hid_S']}",
            f"model.hid_T={s['hid_T']}", f"model.N_S={s['N_S']}", f"model.N_T={s['N_T']}",
            f"data.image_size={s['image_size']}", f"data.input_length={s['input_length']}",
            f"data.total_length={2 * s['input_length']}"]  # fmt: skip


def as_saved(weights: dict) -> dict:
    """The fixture's weights as OpenSTL saves them: batch-norm counters are int64 there (the
    fixture stores every tensor as float32)."""
    return {k: v.long() if k.endswith("num_batches_tracked") else v for k, v in weights.items()}


def openstl_file(case, folder, lightning: bool = False) -> Path:
    """The checkpoint as OpenSTL's training loop saves it (keys bare), or as its Lightning branch
    does (keys prefixed `model.`)."""
    weights = as_saved(case["checkpoint"]["state_dict"])
    path = folder / f"{case['name']}{'_lightning.ckpt' if lightning else '.pth'}"
    if lightning:
        state = {"state_dict": {f"model.{k}": v for k, v in weights.items()}, "epoch": 3, "global_step": 30,
                 "pytorch-lightning_version": "2.0.0", "hyper_parameters": {"method": "SimVP"}}  # fmt: skip
    else:
        state = {**case["checkpoint"], "state_dict": weights}
    torch.save(state, path)
    return path


@pytest.mark.parametrize("form", ["openstl", "lightning"])
def test_predict_reads_openstls_checkpoints_for_longer_and_shorter_horizons(case, form, tmp_path, monkeypatch, capsys):
    """predrnn-predict with OpenSTL's training checkpoint (K = 2J + 3: chunks fed back) and its
    Lightning branch's (K = J − 2) gives the fixture's outputs."""
    from helpers import run_main

    path = openstl_file(case, tmp_path, lightning=form == "lightning")
    output = "future_longer" if form == "openstl" else "future_shorter"
    np.save(tmp_path / "clip.npy", case["frames"][:, :, 0].float().numpy())
    argv = ["predrnn-predict", f"ckpt_path={path}", "input=clip.npy", "output=pred.npy",
            f"num_predictions={case['lengths'][output]}", *described_by(case)]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    want = case[output][:, :, 0].clamp(0, 1).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), want, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_convert_export_and_fine_tune_from_an_openstl_checkpoint(tmp_path, monkeypatch, capsys):
    from helpers import run_main

    with np.load(FIXTURES / "tau.npz", allow_pickle=False) as z:
        case = {"name": "tau", "settings": settings_of(z),
                "checkpoint": torch.load(FIXTURES / "tau.pth", weights_only=True)}  # fmt: skip
    common = described_by(case)
    pth = openstl_file(case, tmp_path)
    code, err = run_main(["predrnn-convert", f"ckpt_path={pth}", "output=native.ckpt", *common],
                         tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    native = torch.load(tmp_path / "native.ckpt", weights_only=True)
    assert native["hyper_parameters"]["network"]["model_type"] == "tau"
    for key, value in as_saved(case["checkpoint"]["state_dict"]).items():
        assert torch.equal(native["state_dict"][f"network.{key}"], value), key
    code, err = run_main(["predrnn-export", f"ckpt_path={pth}", "output=tau.onnx", "num_predictions=13",
                          *common], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0 and (tmp_path / "tau.onnx").exists(), err
    argv = ["predrnn-train", f"ckpt_path={pth}", *common, "trainer=cpu", "trainer.max_steps=2",
            "logger=csv", "test=false", "callbacks.media=null", "data.train_size=8", "data.val_size=4",
            "data.batch_size=4", "data.num_workers=0", "sampling=none"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert any("fine-tuning from the OpenSTL checkpoint" in line and "step 0" in line for line in err), err


# --- TAU's loss (docs/models/simvp.md, "TAU's loss") ------------------------------------------
def reference_differential_divergence(pred: np.ndarray, true: np.ndarray, tau=0.1, eps=1e-12) -> float:
    """TAU's regulariser transcribed from its definition in float64 numpy (openstl/methods/tau.py,
    c74deb5, read for what it computes): softmax over each frame difference's pixels at τ, then
    the mean of p·log(p/(q+ε)+ε)."""
    b, k = pred.shape[:2]
    if k <= 2:
        return 0.0

    def softmax(x):
        x = x - x.max(axis=-1, keepdims=True)
        e = np.exp(x)
        return e / e.sum(axis=-1, keepdims=True)

    p = softmax(np.diff(pred, axis=1).reshape(b, k - 1, -1) / tau)
    q = softmax(np.diff(true, axis=1).reshape(b, k - 1, -1) / tau)
    return float(np.mean(p * np.log(p / (q + eps) + eps)))


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_taus_regulariser_equals_its_definition(k):
    from predrnn.models.losses import differential_divergence

    rng = np.random.default_rng(k)
    pred, true = rng.random((2, k, 2, 6, 5)), rng.random((2, k, 2, 6, 5))
    got = differential_divergence(torch.from_numpy(pred).float(), torch.from_numpy(true).float())
    want = reference_differential_divergence(pred, true)
    assert float(got) == pytest.approx(want, rel=1e-4, abs=1e-9)
    if k > 2:
        assert want > 0  # not a vacuous comparison of zeros
        same = differential_divergence(torch.from_numpy(true).float(), torch.from_numpy(true).float())
        assert abs(float(same)) < 1e-6  # no divergence from itself


def test_tau_trains_on_the_mse_plus_alpha_times_the_regulariser():
    from predrnn.models.losses import differential_divergence, reconstruction_loss
    from predrnn.training.module import PredRNNModule

    torch.manual_seed(0)
    args = {"image_size": 16, "input_length": 3, "model_type": "tau", "hid_S": 4, "hid_T": 8, "N_S": 2, "N_T": 2}
    frames = torch.rand(2, 8, 1, 16, 16)
    tau = PredRNNModule(SimVP(**args, alpha=0.1), loss="mse")
    plain = PredRNNModule(SimVP(**args), loss="mse")  # model=simvp: alpha 0, no regulariser
    plain.network.load_state_dict(tau.network.state_dict())
    loss, predictions, aux = tau.compute_loss(frames, None, training=True)
    assert set(aux) == {"differential_divergence"} and api.aux_losses(tau.network) == {"differential_divergence": 0.1}
    target = frames[:, 3:]
    want = reconstruction_loss(predictions, target, "mse") + 0.1 * differential_divergence(predictions, target)
    torch.testing.assert_close(loss, want)
    plain_loss, _, plain_aux = plain.compute_loss(frames, None, training=True)
    gap = float((loss - plain_loss).detach())
    assert plain_aux == {} and gap == pytest.approx(0.1 * float(aux["differential_divergence"].detach()), rel=1e-3)
    # validation and test score the reconstruction loss alone, as OpenSTL's
    val_loss, _, val_aux = tau.compute_loss(frames, None, training=False)
    assert val_aux == {} and float(val_loss.detach()) == pytest.approx(float(plain_loss.detach()))
    # no coverage (NaN) in the target adds no NaN and no gradient there
    valid = torch.ones_like(frames, dtype=torch.bool)
    valid[:, 5:, :, :4] = False
    holes = frames.masked_fill(~valid, float("nan"))
    loss, _, aux = tau.compute_loss(holes, None, training=True, valid=valid)
    assert torch.isfinite(loss) and torch.isfinite(aux["differential_divergence"])
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in tau.network.parameters() if p.grad is not None)


def test_model_tau_carries_taus_weight_and_model_simvp_none(tmp_path):
    from helpers import compose

    tau, simvp = compose("train", tmp_path, ["model=tau"]), compose("train", tmp_path, ["model=simvp"])
    assert tau.model.alpha == 0.1 and tau.model.model_type == "tau" and simvp.model.alpha == 0.0
    assert compose("train", tmp_path, ["experiment=tau_mnist"]).model.alpha == 0.1
