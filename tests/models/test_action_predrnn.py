"""Action-conditioned PredRNN and PredRNN-V2 (predrnn.models.action_predrnn) against the authors'
code (tests/fixtures/family_parity/README.md, cases `action_predrnn`, `action_predrnn_v2`), and
their own behaviour: how actions are read and checked, longer rollouts, training, arguments."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from helpers import (
    ROOT,
    TESTS,
    assert_bad_argument,
    assert_compiled_cells_match,
    assert_every_parameter_learns,
    assert_exports_for_inference,
    assert_rebuilds_and_counts_its_flops,
    family_case,
    loaded_network,
    masked_and_inferred,
)
from predrnn.models.action_predrnn import ActionPredRNN, ActionPredRNNV2

CONF = ROOT / "conf" / "model"
CLASSES = {"action_predrnn": ActionPredRNN, "action_predrnn_v2": ActionPredRNNV2}
# largest differences measured on CPU: float64 7.0e-8 (the fixture's float32 rounding), float32 3.4e-7
TOLERANCE = {torch.float64: 1e-5, torch.float32: 2e-6}


def action_settings(data) -> dict:
    return {"action_channels": int(data["num_action_ch"]), "conv_on_input": bool(data["conv_on_input"]),
            "res_on_conv": bool(data["res_on_conv"])}  # fmt: skip


def read_case(name: str) -> dict:
    """The authors' case (official .ckpt, reverse scheduled-sampling mask), with its actions and losses."""
    case = family_case(name, CLASSES[name], action_settings, official=True)
    data = case["data"]
    return {
        **case,
        "actions": torch.from_numpy(data["actions"]).double(),
        "loss": float(data["loss"]),
        "mse": float(data["mse"]),
        "decouple": float(data["decouple"]) if "decouple" in data else None,
    }


@pytest.fixture(scope="module", params=list(CLASSES))
def case(request):
    return read_case(request.param)


@pytest.fixture(scope="module")
def v1():
    return read_case("action_predrnn")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_the_authors_code_under_the_mask_and_at_inference(case, dtype):
    net = loaded_network(case, dtype)
    trained, inferred = masked_and_inferred(net, case, dtype, actions=case["actions"].to(dtype))
    assert trained.shape == case["next_frames"].shape and trained.dtype == dtype
    assert (trained.double() - case["next_frames"]).abs().max() <= TOLERANCE[dtype]
    assert (inferred.double() - case["next_frames_inference"]).abs().max() <= TOLERANCE[dtype]
    # the mask feeds back some of the network's own outputs, and some true frames after J
    assert (case["next_frames"] - case["next_frames_inference"]).abs().max() > 1e-2


def test_training_losses_match_the_authors(case):
    net = loaded_network(case).train()
    output = net(case["frames"], case["mask"], actions=case["actions"])
    if case["decouple"] is None:
        assert isinstance(output, torch.Tensor) and not hasattr(net, "aux_losses")
        predictions, aux = output, {}
    else:
        predictions, aux = output
        assert set(aux) == set(net.aux_losses) == {"decouple"} and aux["decouple"].ndim == 0
        assert abs(aux["decouple"].item() - case["decouple"]) <= 1e-5 * case["decouple"]
    assert (predictions.detach() - case["next_frames"]).abs().max() <= 1e-5
    mse = torch.nn.functional.mse_loss(predictions, case["frames"][:, 1:])
    assert abs(mse.item() - case["mse"]) <= 1e-5 * case["mse"]
    total = mse + 0.1 * aux.get("decouple", 0.0)  # the authors' loss: MSE + β · decoupling, β = 0.1
    assert abs(total.item() - case["loss"]) <= 1e-5 * case["loss"]
    # eval mode gives the predictions alone
    with torch.no_grad():
        assert isinstance(net.eval()(case["frames"], case["mask"], actions=case["actions"]), torch.Tensor)


def test_step_t_reads_the_action_of_frame_t(v1):
    net = loaded_network(v1)
    frames, actions = v1["frames"], v1["actions"]
    with torch.no_grad():
        reference = net(frames, actions=actions)
        other = net(frames, actions=actions.flip(0))  # the other sequence's actions
        shifted = net(frames, actions=torch.cat([actions[:, 1:], actions[:, -1:]], dim=1))
        later = actions.clone()
        later[:, 6:] = 0.0
        changed_late = net(frames, actions=later)
        last = actions.clone()
        last[:, -1] = 5.0
        changed_last = net(frames, actions=last)
    assert (other - reference).abs().max() > 1e-2  # the same frames, other actions: other predictions
    assert (shifted - v1["next_frames_inference"]).abs().max() > 1e-2  # off by one step: no parity
    # the actions of frames 6 … act from step 6 on, which predicts frame 7
    assert (changed_late[:, :6] - reference[:, :6]).abs().max() == 0
    assert (changed_late[:, 6:] - reference[:, 6:]).abs().max() > 1e-2
    assert torch.equal(changed_last, reference)  # the last frame's action is never read


def bad_actions(b, t, a):
    yield "missing", None, "conditioned on actions"
    yield "short", torch.zeros(b, t - 1, a), f"got {t - 1} actions for {t} frames"
    yield "flat", torch.zeros(b, t * a), "got shape"
    yield "per step", torch.zeros(b, t, a, 1), "got shape"
    yield "components", torch.zeros(b, t, a + 1), "got shape"
    yield "batch", torch.zeros(b + 1, t, a), "got shape"
    yield "integers", torch.zeros(b, t, a, dtype=torch.long), "float tensor"
    yield "array", np.zeros((b, t, a)), "float tensor"


@pytest.mark.parametrize("kind", [k for k, *_ in bad_actions(1, 3, 1)])
def test_missing_short_or_misshapen_actions_are_one_line_errors(v1, kind):
    net = loaded_network(v1)
    b, t = v1["frames"].shape[:2]
    actions, expected = next((a, e) for k, a, e in bad_actions(b, t, 4) if k == kind)
    with pytest.raises(ValueError) as error:
        net(v1["frames"], v1["mask"], actions=actions)
    message = str(error.value)
    assert "\n" not in message and expected in message
    assert f"(B, T, A) = ({b}, {t}, 4)" in message  # says what it needs


def test_more_actions_than_frames_use_the_first_t(v1):
    net = loaded_network(v1)
    extra = torch.cat([v1["actions"], torch.randn(2, 3, 4, dtype=torch.float64)], dim=1)
    with torch.no_grad():
        assert torch.equal(net(v1["frames"], actions=extra), net(v1["frames"], actions=v1["actions"]))
        # float32 actions serve a float64 network: they take the frames' dtype
        assert (net(v1["frames"], actions=v1["actions"].float()) - v1["next_frames_inference"]).abs().max() < 1e-5


def test_predicts_more_frames_than_the_fixture(case):
    net = loaded_network(case)
    frames, actions = case["frames"], case["actions"]
    b, t = frames.shape[:2]
    more_actions = torch.cat([actions, torch.randn(b, 6, 4, dtype=torch.float64)], dim=1)
    trained, inferred = masked_and_inferred(net, case, extra=6, actions=more_actions)
    assert inferred.shape == (b, t + 5, *frames.shape[2:])
    # the first T−1 steps read the same frames and actions: the fixture's predictions
    assert (inferred[:, : t - 1] - case["next_frames_inference"]).abs().max() <= 1e-5
    assert (trained[:, : t - 1] - case["next_frames"]).abs().max() <= 1e-5
    assert torch.isfinite(inferred[:, t - 1 :]).all() and inferred[:, t - 1 :].abs().max() > 0


def test_trains_every_parameter(case):
    net = loaded_network(case, torch.float32).train()
    output = net(case["frames"].float(), case["mask"], actions=case["actions"].float())
    predictions, aux = output if isinstance(output, tuple) else (output, {})
    loss = torch.nn.functional.mse_loss(predictions, case["frames"][:, 1:].float()) + 0.1 * sum(aux.values())
    loss.backward()
    assert_every_parameter_learns(net)


def test_rebuilds_from_init_args_and_counts_its_flops(case):
    net = loaded_network(case)
    assert net.init_args == {**case["settings"], "image_size": [32, 32], "layer_norm": False}
    assert_rebuilds_and_counts_its_flops(net, case["frames"], actions=case["actions"])


VARIANTS = [
    {},
    {"res_on_conv": False},
    {"conv_on_input": False, "res_on_conv": False},
    {"conv_on_input": False, "res_on_conv": False, "patch_size": 2, "layer_norm": "elementwise"},
    {"patch_size": 2, "layer_norm": True},
    {"image_size": [20, 12]},  # grids 20×12 → 10×6 → 5×3 and back
    {"image_size": [18, 14], "kernel_size": 3},  # 18×14 → 9×7 → 5×4 → 9×7 → 18×14
]


@pytest.mark.parametrize("cls", [ActionPredRNN, ActionPredRNNV2])
@pytest.mark.parametrize("changes", VARIANTS)
def test_other_settings_run_count_and_depend_on_actions(cls, changes):
    args = {"hidden_channels": [4, 4], "in_channels": 2, "image_size": 16, "kernel_size": 3, "input_length": 2,
            "action_channels": 3, **changes}  # fmt: skip
    torch.manual_seed(0)
    net = cls(**args).eval()
    h, w = net.image_size
    frames, actions = torch.rand(2, 5, 2, h, w), torch.randn(2, 5, 3)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = net(frames, actions=actions)
        other = net(frames, actions=actions.flip(0))
    assert out.shape == (2, 4, 2, h, w) and torch.isfinite(out).all()
    assert (other - out).abs().max() > 1e-4
    assert 2 * net.forward_flops(2, 5) == counter.get_total_flops()
    assert set(cls(**net.init_args).state_dict()) == set(net.state_dict())
    if not net.conv_on_input:  # the cells run on the patched frame itself
        assert net.grid == (h // net.patch_size, w // net.patch_size) and not hasattr(net, "conv_input1")


BAD = [
    ({"hidden_channels": [8, 16]}, "hidden_channels"),
    ({"hidden_channels": []}, "hidden_channels"),
    ({"hidden_channels": [1, 1]}, "hidden_channels"),  # conv_on_input halves the width
    ({"conv_on_input": 1}, "conv_on_input"),
    ({"res_on_conv": "yes"}, "res_on_conv"),
    ({"conv_on_input": False}, "res_on_conv"),  # res_on_conv (true) needs the input encoder
    ({"action_channels": 0}, "action_channels"),
    ({"action_channels": 4.0}, "action_channels"),
    ({"kernel_size": 4}, "kernel_size"),
    ({"layer_norm": "yes"}, "layer_norm"),
    ({"patch_size": 3}, "patch_size"),
    ({"image_size": [32, 0]}, "image_size"),
    ({"in_channels": 0}, "in_channels"),
    ({"input_length": 0}, "input_length"),
]


@pytest.mark.parametrize("cls", [ActionPredRNN, ActionPredRNNV2])
@pytest.mark.parametrize(("changes", "key"), BAD)
def test_bad_arguments_are_one_line_errors(v1, cls, changes, key):
    assert_bad_argument(cls, {**v1["settings"], **changes}, key)


def test_configs_hold_every_own_key_with_its_default():
    own = {k: p.default for k, p in inspect.signature(ActionPredRNN).parameters.items()}
    for key in ("in_channels", "image_size", "input_length", "action_channels"):  # from the data
        own.pop(key)
    config = yaml.safe_load((CONF / "action_predrnn.yaml").read_text())
    assert config.pop("_target_") == "predrnn.models.action_predrnn.ActionPredRNN"
    assert config == {k: list(v) if isinstance(v, tuple) else v for k, v in own.items()}
    assert inspect.signature(ActionPredRNNV2).parameters.keys() == inspect.signature(ActionPredRNN).parameters.keys()
    v2 = yaml.safe_load((CONF / "action_predrnn_v2.yaml").read_text())
    assert v2["model"] == {"_target_": "predrnn.models.action_predrnn.ActionPredRNNV2"}
    assert v2["defaults"] == ["/model/action_predrnn@model"] and v2["module"] == {"decouple_beta": 0.1}


def test_exports_for_inference():
    net = ActionPredRNNV2([4, 4], in_channels=3, image_size=16, kernel_size=3, input_length=2).eval()
    assert_exports_for_inference(net, (1, 4, 3, 16, 16), {"actions": (1, 4, 4)}, atol=1e-6)


def test_compiled_cells_give_the_same_predictions():
    net = ActionPredRNN([4, 4], image_size=16, kernel_size=3, input_length=2).eval()
    assert_compiled_cells_match(net, torch.rand(2, 5, 3, 16, 16), actions=torch.randn(2, 5, 4))


def described_by(case) -> list[str]:
    """The model and data overrides that describe the authors' weights-only checkpoint."""
    s = case["settings"]
    hidden = ",".join(str(w) for w in s["hidden_channels"])
    return [f"model={case['name']}", f"model.hidden_channels=[{hidden}]", f"model.kernel_size={s['kernel_size']}",
            f"model.patch_size={s['patch_size']}", f"model.conv_on_input={s['conv_on_input']}",
            f"model.res_on_conv={s['res_on_conv']}", "data=arrays", "data.key=frames", "data.layout=NTCHW",
            "data.actions_key=actions", f"data.input_length={s['input_length']}",
            f"data.total_length={case['frames'].shape[1]}"]  # fmt: skip


@pytest.mark.parametrize("name", list(CLASSES))
def test_the_authors_checkpoint_predicts_through_its_overrides(name, tmp_path, monkeypatch, capsys):
    """An official `{"net_param"}` file described by overrides predicts from clips of J frames
    and J + K − 1 actions (docs/data.md), equal to the authors' code; too few actions are one line."""
    from helpers import run_main

    case = read_case(name)
    j, k = case["settings"]["input_length"], case["frames"].shape[1] - case["settings"]["input_length"]
    frames = case["frames"][:, :j].float().numpy()
    np.savez(tmp_path / "clips.npz", frames=frames, actions=case["actions"][:, : j + k - 1].float().numpy())
    ckpt = TESTS / "fixtures" / "family_parity" / f"{name}.ckpt"
    argv = ["predrnn-predict", f"ckpt_path={ckpt}", "input=clips.npz", "output=pred.npy", f"num_predictions={k}",
            *described_by(case)]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    want = case["next_frames_inference"][:, j - 1 :].clamp(0, 1).float().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), want, rtol=0, atol=1e-5)
    # one action short of J + K − 1: one line naming what is needed
    np.savez(tmp_path / "short.npz", frames=frames, actions=case["actions"][:, : j + k - 2].float().numpy())
    argv = [*argv[:2], "input=short.npz", "output=short.npy", *argv[4:]]
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err) == 1 and f"needs {j + k - 1}" in err[0], err
    assert not (tmp_path / "short.npy").exists()
