"""predrnn-bench's CPU modes and sizes (docs/cpu.md): the `bf16` mode is bf16 autocast only,
the sizes are the CPU presets' and the side by side's, and each CPU line says the CPU's bf16."""

from __future__ import annotations

import pytest
import torch

from predrnn.cli.bench import MODES, SIZES, build, device_info, make_network, mode_settings, parse
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
