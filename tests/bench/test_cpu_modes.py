"""predrnn-bench's CPU modes and sizes (docs/cpu.md): the `bf16` mode is bf16 autocast only,
the sizes are the CPU presets' and the side by side's, each CPU line says the CPU's bf16, and
the timed step minimises the training module's own loss."""

from __future__ import annotations

import copy

import pytest
import torch

from predrnn.bench.measure import device_info
from predrnn.bench.modes import MODES, mode_settings
from predrnn.bench.networks import SIZES, make_network
from predrnn.bench.step import build, make_batch
from predrnn.cli.bench import parse
from predrnn.cpu_features import cpu_bf16


def test_bf16_mode_is_autocast_only():
    fast, dtype = mode_settings("bf16")
    assert "bf16" in MODES and dtype is torch.bfloat16
    assert (fast.compile, fast.channels_last, fast.cuda_graph) == (None, False, False)


@pytest.mark.parametrize("size, widths, kernel", [("small", [16, 16], 3), ("2x32", [32, 32], 3), ("4x64", [64] * 4, 5)])
def test_cpu_sizes(size, widths, kernel):
    net = make_network("predrnn", size)
    assert [cell.conv_h.weight.shape[1] for cell in net.cells] == widths
    assert net.cells[0].conv_h.weight.shape[-1] == kernel and SIZES[size]["patch_size"] == 4


def test_sizes_and_modes_are_comma_lists():
    args = parse(["--size", "small,2x32,4x64", "--modes", "eager_fp32,bf16,compiled"])
    assert args.sizes == ["small", "2x32", "4x64"] and args.modes == ["eager_fp32", "bf16", "compiled"]
    with pytest.raises(SystemExit) as err:
        parse(["--size", "small,huge"])
    assert err.value.code == 2


def test_a_cpu_line_says_the_cpus_bf16():
    info = device_info(torch.device("cpu"))
    assert info["cpu_bf16"] == cpu_bf16().kind and info["cpu_bf16_flags"] == list(cpu_bf16().flags)
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and "omp_wait_policy" in info


def test_the_bf16_step_trains_with_an_fp32_loss():
    step, net, _ = build("small", "bf16", torch.device("cpu"), batch=1)
    before = net.cells[0].conv_h.weight.detach().clone()
    loss = step()
    assert loss.dtype is torch.float32 and torch.isfinite(loss)  # the loss is on autocast's fp32 list
    assert net.cells[0].conv_h.weight.dtype is torch.float32  # fp32 master weights, updated
    assert not torch.equal(before, net.cells[0].conv_h.weight)


# the bench's small size as model overrides (model=tau has none of its keys: its own widths)
SMALL = {"predrnn_v2": ["model.hidden_channels=[16,16]", "model.kernel_size=3", "model.patch_size=4"], "tau": []}


@pytest.mark.parametrize("model", ["predrnn_v2", "tau"])
def test_the_bench_step_minimises_the_training_loss(model, tmp_path):
    """The timed step's loss is the one `predrnn-train model=<model>` minimises: the auxiliary
    losses weighted as training weighs them (PredRNN-V2's decoupling loss by decouple_beta,
    TAU's regulariser by alpha), none left out and none weighted 1."""
    from helpers import compose
    from predrnn.build import build as build_run

    cpu = torch.device("cpu")
    step, net, _ = build("small", "eager_fp32", cpu, batch=2, model=model)
    weights = copy.deepcopy(net.state_dict())  # the weights the next step computes its loss with
    loss = step()
    module = build_run(compose("train", tmp_path, [f"model={model}", *SMALL[model]]))[1]
    module.network.load_state_dict(weights)
    assert module.aux_names and all(module.aux_weight(name) != 1 for name in module.aux_names)
    frames, mask = make_batch(2, cpu)
    torch.testing.assert_close(loss, module.compute_loss(frames, mask, training=True)[0])
