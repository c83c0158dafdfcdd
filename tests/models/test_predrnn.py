"""PredRNN network: shapes, patching, mask semantics, memory flow, gradients, checks."""

import pytest
import torch

from predrnn.models import ConvLSTM, PredRNN, PredRNNV2, fold_patches, unfold_patches


def tiny(**kw):
    args = {"hidden_channels": [4, 4], "image_size": 16, "patch_size": 4, "kernel_size": 3, "input_length": 3}
    return PredRNN(**{**args, **kw})


def frames(b=2, t=6, size=16):
    torch.manual_seed(0)
    return torch.rand(b, t, 1, size, size)


def test_patch_round_trip_and_layout():
    x = torch.rand(2, 3, 2, 8, 12)
    folded = fold_patches(x, 4)
    assert folded.shape == (2, 3, 32, 2, 3)
    torch.testing.assert_close(unfold_patches(folded, 4), x)
    # channel c*16 + 4*i + j of patch (r, s) holds pixel (4r+i, 4s+j) of channel c
    assert folded[1, 2, 1 * 16 + 4 * 2 + 3, 1, 2] == x[1, 2, 1, 4 + 2, 8 + 3]


def test_output_shape_and_inference_equals_mask():
    net = tiny()
    x = frames()
    out = net(x)
    assert out.shape == (2, 5, 1, 16, 16)
    # None == true frames for the first input_length steps, own outputs afterwards
    mask = torch.zeros(2, 4)
    mask[:, : net.input_length - 1] = 1
    torch.testing.assert_close(net(x, mask), out)


def test_all_ones_mask_is_teacher_forcing():
    net = tiny()
    x = frames()
    forced = net(x, torch.ones(2, 4))
    # with teacher forcing, the prediction at step t depends only on true frames 0..t:
    # changing frame 5 (never an input) and later outputs leaves forced outputs unchanged
    y = x.clone()
    y[:, 5] = 0
    torch.testing.assert_close(net(y, torch.ones(2, 4)), forced)
    # but changing frame 4 changes the prediction of frame 5 only under teacher forcing
    y = x.clone()
    y[:, 4] = 1 - y[:, 4]
    assert not torch.allclose(net(y, torch.ones(2, 4))[:, 4], forced[:, 4])
    torch.testing.assert_close(net(y)[:, 4], net(x)[:, 4])  # inference ignores frame 4


def test_mask_is_per_sequence():
    net = tiny()
    x = frames()
    mask = torch.ones(2, 4)
    mask[1] = 0
    mixed = net(x, mask)
    torch.testing.assert_close(mixed[0], net(x, torch.ones(2, 4))[0])
    torch.testing.assert_close(mixed[1], net(x, torch.zeros(2, 4))[1])


def test_zigzag_memory_reaches_bottom_layer_next_step():
    """M written by the top layer at t must be read by layer 1 at t+1."""
    net = tiny()
    seen = []
    top, bottom = net.cells[-1], net.cells[0]
    top.register_forward_hook(lambda mod, inp, out: seen.append(("top_out", out[2])))
    bottom.register_forward_hook(lambda mod, inp, out: seen.append(("bottom_in", inp[3])))
    net(frames(t=5))
    steps = [m for k, m in seen if k == "bottom_in"]
    tops = [m for k, m in seen if k == "top_out"]
    assert torch.count_nonzero(steps[0]) == 0  # M starts at zero
    for t in range(1, len(steps)):
        assert steps[t] is tops[t - 1] or torch.equal(steps[t], tops[t - 1])


def test_unequal_widths_project_memory():
    net = tiny(hidden_channels=[4, 6, 3])
    out = net(frames())
    assert out.shape == (2, 5, 1, 16, 16)
    assert sum(isinstance(p, torch.nn.Conv2d) for p in net.memory_projections) == 3


def test_gradients_reach_every_parameter_with_decoupling():
    args = {"hidden_channels": [4, 6], "image_size": 16, "patch_size": 4, "kernel_size": 3, "input_length": 3}
    net = PredRNNV2(**args).train()
    mask = torch.bernoulli(torch.full((2, 4), 0.5))
    preds, aux = net(frames(), mask)
    dec = aux["decouple"]
    assert 0 <= dec.item() <= 1
    with torch.no_grad():  # eval mode: the same predictions, no auxiliary loss
        torch.testing.assert_close(net.eval()(frames(), mask), preds.detach())
    net.train()
    ((preds - frames()[:, 1:]) ** 2).mean().add(dec).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


def test_convlstm_network_and_layer_norm():
    net = ConvLSTM([4, 4], image_size=16, patch_size=4, kernel_size=3, layer_norm=True, input_length=3)
    out = net(frames())
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert not hasattr(net, "aux_losses")  # no decoupling loss without ST-LSTM memories


def test_forward_flops_paper_config():
    net = PredRNN([128] * 4, image_size=64, patch_size=4, kernel_size=5)
    # 231.9 GFLOP per 20-frame sequence, as counted for the official code
    assert net.forward_flops(1, 20) / 1e9 == pytest.approx(231.9, abs=0.2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"patch_size": 3}, "^patch_size=3 must divide the frame size 16x16"),
        ({"hidden_channels": []}, "^hidden_channels=\\[\\] must be a non-empty list"),
        (
            {"hidden_channels": [4, -1]},
            "^hidden_channels=\\[4, -1\\] must be positive integers.*e.g. hidden_channels=\\[64,64\\]",
        ),
        ({"kernel_size": 2}, "^kernel_size=2 must be odd"),
        ({"kernel_size": "abc"}, "^kernel_size='abc' must be an integer"),
        ({"input_length": 0}, "^input_length=0 must be at least 1"),
        ({"image_size": [16, 16, 3]}, "^image_size=\\[16, 16, 3\\] must be an int or \\[height, width\\]"),
    ],
)
def test_construction_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)


def test_input_errors():
    net = tiny()
    with pytest.raises(ValueError, match="frames are 1x8x8 but the model expects 1x16x16"):
        net(torch.rand(2, 6, 1, 8, 8))
    with pytest.raises(ValueError, match="leaves nothing to predict"):
        net(torch.rand(2, 3, 1, 16, 16))
    with pytest.raises(ValueError, match="teacher_mask must be"):
        net(frames(), torch.ones(2, 5))
    with pytest.raises(ValueError, match="must be \\(B, T, C, H, W\\)"):
        net(torch.rand(6, 1, 16, 16))


@pytest.mark.slow
def test_paper_size_forward_backward_on_cpu():
    net = PredRNN([128] * 4)
    x = torch.rand(2, 20, 1, 64, 64)
    out = net(x, torch.ones(2, 18))
    assert out.shape == (2, 19, 1, 64, 64)
    out.mean().backward()
    assert net.cells[0].conv_x.weight.grad is not None
