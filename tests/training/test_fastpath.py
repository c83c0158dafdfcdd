"""Fast modes compute the same loss and gradients as eager fp32 (within stated tolerances),
and the benchmark runs and prints its JSON lines (no timing asserts)."""

import json
import subprocess

import pytest
import torch

from helpers import CPU_COMPILE_PROBLEM, ENV, ROOT, needs_cpu_compiler
from predrnn.models import PredRNN, reconstruction_loss
from predrnn.training.fastpath import FastPath, GraphedTrainStep

CUDA = torch.cuda.is_available()


def _setup(device="cpu", channels_last=False):
    torch.manual_seed(0)
    net = PredRNN([8, 8], image_size=16, patch_size=4, kernel_size=3, input_length=3).to(device)
    x = torch.rand(2, 6, 1, 16, 16, device=device)
    mask = torch.bernoulli(torch.full((2, 4), 0.5, device=device))
    if channels_last:
        net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return net, x, mask


def _loss_and_grads(net, x, mask, bf16=False, device="cpu"):
    net.zero_grad(set_to_none=True)
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        loss = reconstruction_loss(net(x, mask), x[:, 1:], "l1_l2")
    loss.backward()
    return loss.detach().float(), [p.grad.detach().float().clone() for p in net.parameters() if p.grad is not None]


def _rel(a, b):
    return ((a - b).norm() / b.norm().clamp(min=1e-12)).item()


def _compare(got, want, tol):
    loss, grads = got
    ref_loss, ref_grads = want
    assert _rel(loss, ref_loss) < tol
    for g, r in zip(grads, ref_grads, strict=True):
        assert _rel(g, r) < tol


def test_channels_last_fp32_matches_eager():
    ref = _loss_and_grads(*_setup())
    _compare(_loss_and_grads(*_setup(channels_last=True)), ref, 1e-5)


def test_bf16_autocast_within_2e2():
    ref = _loss_and_grads(*_setup())
    _compare(_loss_and_grads(*_setup(channels_last=True), bf16=True), ref, 2e-2)


@pytest.mark.slow
@needs_cpu_compiler
def test_compiled_cells_fp32_match_eager():
    ref = _loss_and_grads(*_setup())
    net, x, mask = _setup()
    net.compile_cells()
    _compare(_loss_and_grads(net, x, mask), ref, 1e-5)


@pytest.mark.parametrize("channels_last,bf16", [(False, False), (True, True)])
def test_compiled_cells_build_one_graph_per_cell_shape(channels_last, bf16):
    """Step 0 (zero states) and the steps that feed back predictions present the same dtypes,
    layouts, strides and gradient flags as the others, so torch.compile builds one graph per
    cell shape (layer 1 reads 16 input channels, layer 2 reads 8) for inference and one for
    training, instead of one per variant."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    net, x, mask = _setup(channels_last=channels_last)
    net.compile_cells(mode=None, backend="eager")  # the graphs dynamo captures, without inductor's compile

    def graphs() -> int:
        return counters["stats"]["unique_graphs"]

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        net.eval()(x)  # 3 observed frames, then 2 fed-back predictions
        assert graphs() == 2
        net(torch.cat([x, x]))  # a new batch size makes each shape's graph dynamic once
        assert graphs() == 4
        net(torch.cat([x, x, x]))
        assert graphs() == 4
    inference = graphs()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        net.train()(x, mask).sum().backward()
    assert graphs() - inference == 2
    torch._dynamo.reset()


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("bf16, tol", [(False, 1e-5), (True, 2e-2)])
def test_cuda_graph_step_matches_eager_steps(bf16, tol):
    """Three graphed steps give the same weights as three eager steps."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    results = []
    for graphed in (False, True):
        net, x, mask = _setup("cuda", channels_last=bf16)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, capturable=graphed)

        def loss_fn(frames, m, net=net):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
                return (reconstruction_loss(net(frames, m), frames[:, 1:], "l1_l2"),)

        if graphed:
            step = GraphedTrainStep(loss_fn, list(net.parameters()), opt)
            losses = [step(x, mask)[0].clone() for _ in range(3)]
        else:
            losses = []
            for _ in range(3):
                opt.zero_grad()
                loss = loss_fn(x, mask)[0]
                loss.backward()
                opt.step()
                losses.append(loss.detach())
        results.append((torch.stack(losses), [p.detach().clone() for p in net.parameters()]))
    (eager_losses, eager_params), (graph_losses, graph_params) = results
    assert _rel(graph_losses, eager_losses) < tol
    for g, e in zip(graph_params, eager_params, strict=True):
        assert _rel(g, e) < tol


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_graph_step_follows_the_learning_rate_schedule():
    """Warm-up + cosine on the graphed step: the schedule fills the learning-rate tensor the
    captured update reads, so five graphed steps give the weights of five eager ones."""
    from predrnn.training.optim import Optim

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    recipe = Optim(lr=1e-2, scheduler="cosine", warmup=0.4)
    results = []
    for graphed in (False, True):
        net, x, mask = _setup("cuda")
        opt = recipe.build(net.parameters(), capturable=graphed)
        schedule = recipe.schedule(opt, 5)

        def loss_fn(frames, m, net=net):
            return (reconstruction_loss(net(frames, m), frames[:, 1:], "l1_l2"),)

        step = GraphedTrainStep(loss_fn, list(net.parameters()), opt) if graphed else None
        for _ in range(5):
            if graphed:
                step(x, mask)
            else:
                opt.zero_grad()
                loss_fn(x, mask)[0].backward()
                opt.step()
            schedule.step()
        results.append([p.detach().clone() for p in net.parameters()])
    for g, e in zip(*results, strict=True):
        assert _rel(g, e) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("compiled", [False, True])
def test_fast_path_step_matches_eager_fp32_within_2e2(compiled):
    """The whole fast path (bf16, channels-last, compiled cells or not, one CUDA graph): the
    loss and gradients of a step against eager fp32 on the same weights and batch."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ref = _loss_and_grads(*_setup("cuda"), device="cuda")
    net, x, mask = _setup("cuda", channels_last=True)
    if compiled:
        net.compile_cells()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, capturable=True)

    def loss_fn(frames, m):
        return (reconstruction_loss(net(frames, m), frames[:, 1:], "l1_l2"),)

    # the first call captures, restores the weights and replays: grads are those of step 1
    with torch.autocast("cuda", dtype=torch.bfloat16):  # the fast path records bf16 casts in the graph
        step = FastPath(channels_last=True, cuda_graph=True).train_step(loss_fn, list(net.parameters()), opt)
    loss = step(x, mask)[0].detach().float().clone()
    grads = [p.grad.detach().float().clone() for p in net.parameters() if p.grad is not None]
    _compare((loss, grads), ref, 2e-2)
    torch._dynamo.reset()


def test_compiled_cells_on_a_cpu_without_a_working_compiler_fail_at_setup(tmp_path):
    """The module checks inductor's compiler before compiling: a one-line ConfigError naming
    the setting and the fix, instead of a C++ build error inside the first training step."""
    import torch._inductor.config as inductor_config

    from helpers import broken_compiler
    from predrnn.errors import ConfigError
    from predrnn.training.module import PredRNNModule

    module = PredRNNModule(network=PredRNN(hidden_channels=[4], image_size=16, patch_size=4), compile="default")
    with (
        inductor_config.patch({"cpp.cxx": (None, str(broken_compiler(tmp_path)))}),
        pytest.raises(ConfigError, match=r"^module.compile=default on the CPU needs a working C\+\+ compiler .*"
                      r"cannot execute 'cc1plus'.*or set module.compile=null$") as err,
    ):  # fmt: skip
        module.setup("fit")
    assert "\n" not in str(err.value) and not module.network.cells_compiled


@pytest.mark.slow
def test_bench_prints_json_lines():
    from helpers import script

    proc = subprocess.run(
        [script("predrnn-bench"), "--suite", "all", "--steps", "1", "--warmup", "0", "--fit-steps", "2",
         "--data-seconds", "0.2", "--modes", "eager_fp32,bf16_channels_last,cuda_graph"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    suites = {r["suite"] for r in records}
    assert suites == {"data", "train", "compile", "predict", "fit"}
    compiled = next(r for r in records if r["suite"] == "compile")
    if CPU_COMPILE_PROBLEM is None:
        assert compiled["first_train_step_s"] > 0 and compiled["train_graphs"] == compiled["eval_graphs"] == 2
    else:  # no C++ compiler here: the compiled cases say so instead of failing the run
        assert CPU_COMPILE_PROBLEM in compiled["skipped"]
    train = [r for r in records if r["suite"] == "train" and "ms_per_step" in r]
    assert {r["mode"] for r in train} == {"eager_fp32", "bf16_channels_last"}
    for r in train:
        assert r["ms_per_step"] > 0 and r["seq_per_s"] > 0 and r["model_tflops"] > 0 and r["device"] == "cpu"
        assert r["peak_rss_mb"] > 0
    assert any(r.get("skipped") for r in records if r["mode"] == "cuda_graph")
    fit = next(r for r in records if r["suite"] == "fit")
    assert fit["ms_per_step"] > 0 and fit["steps"] >= 1
    # the smoke experiment keeps torch's cuDNN setting: the fit case measures the config, not the bench
    assert fit["cudnn_benchmark"] is False


@pytest.mark.slow
@needs_cpu_compiler
def test_speed_fast_trains_through_the_real_loop_on_cpu(tmp_path):
    """`speed=fast` reaches the training loop: bf16 autocast inside the step, channels-last
    weights, compiled cells, and (without CUDA) Lightning's own optimiser step in place of the
    graph; the run trains, validates and tests with finite metrics."""
    import json

    from pytorch_lightning.callbacks import Callback

    from helpers import SMOKE, compose
    from predrnn.training.run import train

    seen = {}

    class Probe(Callback):
        def on_fit_start(self, trainer, pl_module):
            def record(net, inputs, output):  # the network's own output dtype: bf16 under autocast
                if net.training:
                    seen["prediction_dtype"] = output.dtype

            pl_module.network.register_forward_hook(record)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            net = pl_module.network
            seen["compiled"] = all(cell._compiled_call_impl is not None for cell in net.cells)
            weight = net.cells[0].conv_h.weight
            seen["channels_last"] = weight.is_contiguous(memory_format=torch.channels_last)
            seen["automatic"] = pl_module.automatic_optimization  # the graphed step only on CUDA

    overrides = [*SMOKE, "speed=fast", "trainer.max_steps=3", "logger=none", "callbacks.media=null"]
    cfg = compose("train", tmp_path, overrides)
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.precision == "bf16-mixed"
    train(cfg, extra_callbacks=[Probe()])
    assert seen == {"compiled": True, "channels_last": True, "automatic": True, "prediction_dtype": torch.bfloat16}
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 3
    assert 0 < summary["test"]["mse"] < 1000


@pytest.mark.parametrize("mode", ["eager_fp32", "bf16_channels_last", "compiled", "cuda_graph", "compiled_cuda_graph"])
def test_bench_modes_are_the_speed_configs(mode, tmp_path):
    """The bench builds each mode from `speed=<mode>`, and training with that config gets the
    same switches: one fast-path implementation for both."""
    from hydra.utils import instantiate

    from helpers import compose
    from predrnn.bench.modes import MODES, mode_settings
    from predrnn.build import build

    assert mode in MODES
    fast, dtype = mode_settings(mode)
    cfg = compose("train", tmp_path, ["experiment=smoke", f"speed={mode}"])
    module = build(cfg)[1]
    assert (module.fast.compile, module.fast.channels_last, module.fast.cuda_graph) == (
        fast.compile, fast.channels_last, fast.cuda_graph,
    )  # fmt: skip
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert trainer.precision == {None: "32-true", torch.bfloat16: "bf16-mixed"}[dtype]
    assert (mode != "eager_fp32") == fast.channels_last and ("compiled" in mode) == bool(fast.compile)
    assert ("cuda_graph" in mode) == fast.cuda_graph


def test_speed_fast_is_the_compiled_cuda_graph_mode(tmp_path):
    from helpers import compose

    fast = compose("train", tmp_path, ["speed=fast"])
    mode = compose("train", tmp_path, ["speed=compiled_cuda_graph"])
    assert fast.module == mode.module and fast.trainer.precision == mode.trainer.precision


@pytest.mark.slow
def test_gpu_time_to_quality_script_runs_dry_on_cpu(tmp_path):
    """`benchmarks/gpu_check.sh ttq`, the one-command GPU comparison of the official and the
    budget recipes, in its CPU dry-run mode: both trainings, both tests, one JSON line each."""
    import sys

    root = ROOT
    env = {**ENV, "DRY_RUN": "1", "OUT": str(tmp_path), "PYTHON": sys.executable, "SKIP_WHEELS": "1"}
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", "ttq", "60"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "ttq.jsonl").read_text().splitlines()]
    assert [line["recipe"] for line in lines] == ["official", "budget"], proc.stdout + proc.stderr
    for line in lines:
        assert line["steps"] == 3 and line["status"] == "finished" and line["test_sequences"] == 8
        assert line["test_mse"] > 0 and line["zeros_mse"] > 0 and line["device"] == "cpu"
    budget = json.loads((tmp_path / "ttq_budget_summary.json").read_text())
    assert budget["reproduce"]["seed"] == 42 and budget["status"] == "finished"


@pytest.mark.slow
def test_gpu_family_stage_runs_dry_on_cpu(tmp_path):
    """`benchmarks/gpu_check.sh family` (the family side by side at the papers' width) in its
    CPU dry-run mode, on two networks: one JSON line each with the table's columns."""
    import sys

    root = ROOT
    env = {**ENV, "DRY_RUN": "1", "OUT": str(tmp_path), "PYTHON": sys.executable, "SKIP_WHEELS": "1",
           "FAMILY_MODELS": "predrnn,mim"}  # fmt: skip
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", "family"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "family.jsonl").read_text().splitlines() if line.startswith("{")]
    assert [line["model"] for line in lines] == ["predrnn", "mim"], proc.stdout + proc.stderr
    for line in lines:
        assert line["steps"] == 3 and line["test_mse"] > 0 and line["zeros_mse"] > 0 and line["params"] > 0
        assert line["cpu_ms_per_step"] > 0 and line["gflops_per_sequence"] > 0
