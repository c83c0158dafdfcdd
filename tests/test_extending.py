"""A network of the user's own, outside the package, trains, evaluates, predicts and exports
exactly as docs/extending.md shows it; a checkpoint that names any other code is refused before
anything is imported; a metric added from the command line reaches every report."""

from __future__ import annotations

import csv
import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import ENV, run, run_main

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"  # the own-network example
TESTS = Path(__file__).resolve().parent


def readme_example() -> tuple[str, str, list[str]]:
    """docs/extending.md's own-network example: (python file, YAML, shell lines)."""
    text = DOC.read_text()
    block = re.search(r"<!-- tested by tests/test_extending.py -->\s*```python\n(.*?)```\s*```yaml\n(.*?)```\s*"
                      r"```bash\n(.*?)```", text, re.S)  # fmt: skip
    return block.group(1), block.group(2), [line for line in block.group(3).splitlines() if line.strip()]


def shell(line: str, variables: dict[str, str]) -> list[str]:
    """One documented command line as argv, with $VAR expanded as a shell would (comments dropped)."""
    for name, value in variables.items():
        line = line.replace(f"${name}", value)
    return shlex.split(line, comments=True)


@pytest.mark.slow
def test_own_network_as_the_docs_show(tmp_path):
    code, yaml_text, lines = readme_example()
    assert len(code.strip().splitlines()) <= 25  # "a 20-line example network"
    (tmp_path / "copylast.py").write_text(code)
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "copylast.yaml").write_text(yaml_text)
    env = {**ENV, "PYTHONPATH": str(tmp_path)}
    variables = {"PWD": str(tmp_path)}
    commands = []
    for line in lines:
        if line.startswith("export "):
            continue  # PYTHONPATH: set in env
        if line.startswith("NET="):
            variables["NET"] = shell(line.split("=", 1)[1], variables)[0]
            continue
        commands.append(shell(line, variables))
    for argv in commands:
        run([sys.executable, *argv[1:]] if argv[0] == "python" else argv, tmp_path, env=env)
    (train_run,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    state = torch.load(train_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["hyper_parameters"]["network"]["_target_"] == "copylast.CopyLast"
    assert state["global_step"] == 50
    (eval_run,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    metrics = json.loads((eval_run / "metrics.json").read_text())
    assert metrics["num_sequences"] == 8 and len(metrics["mse_per_frame"]) == 10
    # a 1×1 convolution of the previous frame can at best copy it: about as good as copy-last
    assert metrics["mse"] <= 1.5 * metrics["baselines"]["copy_last"]["mse"]
    assert np.load(tmp_path / "copylast.npy").shape == (1, 10, 64, 64)
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "copylast.onnx"))
    clip = np.random.default_rng(0).random((2, 10, 1, 64, 64)).astype(np.float32)
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: clip})
    sys.path.insert(0, str(tmp_path))
    try:
        from predrnn.checkpoints import open_checkpoint
        from predrnn.cli.hydra_state import compose
        from predrnn.export import Forecaster
        from predrnn.training.module import PredRNNModule

        cfg = compose("eval", [f"hydra.searchpath=[file://{tmp_path}/conf]", "model=copylast", "ckpt_path=x"],
                      tmp_path / "x")  # fmt: skip
        module = open_checkpoint(train_run / "checkpoints" / "last.ckpt", cfg, module_class=PredRNNModule).module
        with torch.no_grad():
            want = Forecaster(module.network, 10).eval()(torch.from_numpy(clip))
    finally:
        sys.path.remove(str(tmp_path))
    np.testing.assert_allclose(onnx_out, want.numpy(), atol=1e-5)
    # without its config the checkpoint's target is not trusted: one line, nothing imported
    proc = run(["predrnn-eval", f"ckpt_path={train_run}/checkpoints/last.ckpt", "data.test_size=8"], tmp_path,
               check=False, env=env)  # fmt: skip
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr
    assert "names the network 'copylast.CopyLast', which is not one of predrnn's networks" in errors[0]
    assert "hydra.searchpath" in errors[0]


HOSTILE = {
    "os.system": {"command": "touch {marker}"},
    "builtins.exec": {"source": "open('{marker}', 'w').close()"},
    "subprocess.Popen": {"args": ["touch", "{marker}"]},
    "collections.OrderedDict": {},  # a class, not a network
    "predrnn.models.cells.SpatioTemporalLSTMCell": {"in_channels": 1, "hidden_channels": 4},  # ours, not a network
}


def hostile_checkpoint(model_ckpt: Path, target: str, marker: Path, folder: Path) -> Path:
    state = torch.load(model_ckpt, weights_only=True)
    args = json.loads(json.dumps(HOSTILE[target]).replace("{marker}", str(marker)))
    state["hyper_parameters"] = {**state["hyper_parameters"], "network": {"_target_": target, **args}}
    path = folder / f"hostile_{target.replace('.', '_')}.ckpt"
    torch.save(state, path)
    return path


def test_hostile_targets_are_real(tmp_path):
    """Built naively (the target imported and called with the stored arguments), the
    code-running targets do run (so the test below can fail; recent Hydra also blocklists them,
    predrnn refuses every foreign target before anything is imported)."""
    import importlib

    for target in ("os.system", "subprocess.Popen"):
        marker = tmp_path / f"ran_{target}"
        args = json.loads(json.dumps(HOSTILE[target]).replace("{marker}", str(marker)))
        module, _, name = target.rpartition(".")
        call = getattr(importlib.import_module(module), name)
        result = call(*args.values())
        if hasattr(result, "wait"):
            result.wait()
        assert marker.exists()


ENTRY_POINTS = [
    ("predrnn-eval", "data.test_size=4", "num_media=0"),
    ("predrnn-predict", "input=clip.npy", "output=out.npy"),
    ("predrnn-export", "output=out.onnx"),
    ("predrnn-train", "experiment=smoke", "trainer.max_steps=20"),
]


@pytest.mark.parametrize("target", list(HOSTILE))
@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS])
def test_hostile_checkpoint_target_is_refused(target, entry, workdir, tmp_path, monkeypatch, capsys):
    marker = tmp_path / "MARKER"
    ckpt = hostile_checkpoint(workdir / "model.ckpt", target, marker, tmp_path)
    (tmp_path / "clip.npy").write_bytes((workdir / "clip.npy").read_bytes())
    code, err = run_main([entry[0], f"ckpt_path={ckpt}", *entry[1:]], tmp_path, monkeypatch, capsys)
    assert not marker.exists(), "the checkpoint's target ran"
    assert code == 2 and len(err) == 1, err
    if entry[0] == "predrnn-train":  # resuming compares the stored network with the configured one
        expected = f"was trained with model._target_={target}"
    elif target.startswith("predrnn."):
        expected = "which is not a network"
    else:
        expected = "which is not one of predrnn's networks: predrnn imports no code a checkpoint names"
    assert expected in err[0], err
    assert not (tmp_path / "out.npy").exists() and not (tmp_path / "out.onnx").exists()


@pytest.mark.slow
def test_a_metric_added_from_the_command_line_reaches_every_report(tmp_path):
    """`+metrics.NAME._target_=…` on the data scale: metrics.json (value and per frame), the
    baselines, the console table, predrnn-report's table and CSV, and the same value under DDP."""
    env = {**ENV, "PYTHONPATH": str(TESTS)}
    common = ["experiment=smoke", "+metrics.range._target_=extensions.DataRange", "data.test_size=6",
              "data.val_size=4", "callbacks.media=null"]  # fmt: skip
    proc = run(["predrnn-train", "-m", *common, "seed=1,2"], tmp_path, env=env)
    assert "RANGE" in proc.stdout  # the console's per-frame table has a column for it
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    job = json.loads((sweep / "0" / "metrics.json").read_text())
    assert len(job["range_per_frame"]) == 10 and job["range"] == pytest.approx(max(job["range_per_frame"]))
    assert job["baselines"]["zeros"]["range"] == 0.0  # black frames have no range
    assert job["baselines"]["copy_last"]["range"] > 0
    report = run(["predrnn-report", str(sweep)], tmp_path).stdout
    assert "test_range" in report.splitlines()[0]
    (row,) = csv.DictReader((sweep / "report.csv").read_text().splitlines())
    assert float(row["test_range_mean"]) > 0
    ckpt = sweep / "0" / "checkpoints" / "last.ckpt"
    ddp_env = {k: v for k, v in env.items() if k != "OMP_NUM_THREADS"}
    for trainer in ("cpu", "ddp_cpu"):
        run(["predrnn-eval", f"ckpt_path={ckpt}", f"trainer={trainer}", "data.test_size=11", "num_media=0",
             "+metrics.range._target_=extensions.DataRange", "+metrics.events._target_=predrnn.metrics.events.EventScores",
             "+metrics.events.thresholds=[0.05,0.5]"], tmp_path, env=ddp_env)  # fmt: skip
    one, two = (json.loads(p.read_text()) for p in sorted((tmp_path / "logs" / "eval" / "runs").glob("*/metrics.json")))
    assert one["num_sequences"] == two["num_sequences"] == 11
    assert two["range"] == pytest.approx(one["range"], rel=1e-6)
    assert two["range_per_frame"] == pytest.approx(one["range_per_frame"], rel=1e-6)
    # contingency counts are sums reduced over the ranks: the event scores equal one process's
    for name in ("csi_0.05", "pod_0.5", "bias_0.05", "hss_0.05"):
        assert one[name] is not None and two[name] == pytest.approx(one[name], rel=1e-9), name
        assert two[f"{name}_per_frame"] == pytest.approx(one[f"{name}_per_frame"], rel=1e-9, nan_ok=True), name


def test_thresholds_in_the_wrong_units_warn_in_one_line_each():
    """A threshold above the data's maximum, or negative for data that never is, can't mean an
    event: one line naming the data's range (the training split's, in data units)."""
    from predrnn.metrics.collection import MetricSet

    configs = {"events": {"_target_": "predrnn.metrics.events.EventScores", "thresholds": [100, 35, -1]},
               "fss": {"_target_": "predrnn.metrics.fss.FractionsSkillScore", "thresholds": [35], "scales": [1]}}  # fmt: skip
    notices: list[str] = []
    MetricSet(configs, 3, "test", notices, data_range=(0.0, 70.0))
    assert len(notices) == 2 and all("outside the data's range [0, 70]" in n and "\n" not in n for n in notices)
    assert "threshold 100" in notices[0] and "threshold -1" in notices[1]
    quiet: list[str] = []
    MetricSet(configs, 3, "test", quiet, data_range=(-10.0, 120.0))
    assert quiet == []
