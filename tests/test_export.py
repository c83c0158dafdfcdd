"""predrnn-export: ONNX (run with onnxruntime), TorchScript and the exported program (run with
torch) predict what the eager model predicts, at a batch size other than the one exported,
and say what they take and return. docs/export.md's onnxruntime snippet runs as written."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import run_main
from predrnn.checkpoints import open_checkpoint
from predrnn.export import Forecaster
from predrnn.training.module import PredRNNModule

FORMATS = [("onnx", ".onnx"), ("torchscript", ".pt"), ("exported-program", ".pt2")]
DOC = Path(__file__).resolve().parents[1] / "docs" / "export.md"  # its onnxruntime snippet


@pytest.fixture(scope="module")
def exported(workdir, tmp_path_factory) -> dict[str, Path]:
    """The workdir's model exported once in each format, through predrnn-export."""
    folder = tmp_path_factory.mktemp("export")
    paths = {}
    mp = pytest.MonkeyPatch()
    for fmt, suffix in FORMATS:
        if fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
            continue
        paths[fmt] = folder / f"model{suffix}"
        mp.chdir(folder)
        mp.setattr(
            "sys.argv",
            ["predrnn-export", f"ckpt_path={workdir / 'model.ckpt'}", f"format={fmt}", f"output={paths[fmt]}"],
        )
        from predrnn.cli import export

        export.main()
    mp.undo()
    return paths


@pytest.mark.parametrize("fmt, suffix", FORMATS)
def test_artefact_matches_the_eager_model(fmt, suffix, workdir, exported):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the export extra (pip install 'predrnn[export]') is not installed")
    out = exported[fmt]
    module = open_checkpoint(workdir / "model.ckpt", module_class=PredRNNModule).module
    rollout = Forecaster(module.network, 10).eval()
    observed = torch.rand(3, 10, 1, 64, 64)  # exported with a batch of 2: the batch is dynamic
    with torch.no_grad():
        want = rollout(observed).numpy()
        if fmt == "onnx":
            import onnxruntime as ort

            session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            got = session.run(None, {"observed": observed.numpy()})[0]
            meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
            assert meta["input_layout"] == "NTCHW" and meta["value_range"] == [0.0, 1.0]
            assert meta["input_length"] == 10 and meta["num_predictions"] == 10
        elif fmt == "torchscript":
            got = torch.jit.load(str(out))(observed).numpy()
        else:
            got = torch.export.load(str(out)).module()(observed).numpy()
    assert got.shape == (3, 10, 1, 64, 64)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    info = json.loads(out.with_name(out.name + ".json").read_text())
    assert info["format"] == fmt and info["input_shape"] == ["N", 10, 1, 64, 64]
    assert info["output_shape"] == ["N", 10, 1, 64, 64] and info["dtype"] == "float32"


def test_num_predictions_is_chosen_at_export(workdir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "k15.pt"
    code, err = run_main(["predrnn-export", f"ckpt_path={workdir / 'model.ckpt'}", "format=torchscript",
                          f"output={out}", "num_predictions=15"], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    with torch.no_grad():
        assert torch.jit.load(str(out))(torch.rand(1, 10, 1, 64, 64)).shape == (1, 15, 1, 64, 64)


def test_documented_onnx_snippet_runs_as_written(workdir, exported, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="the export extra (pip install 'predrnn[export]') is not installed")
    text = DOC.read_text()
    snippet = re.search(r"<!-- tested by tests/test_export.py -->\s*```python\n(.*?)```", text, re.S).group(1)
    assert len(snippet.strip().splitlines()) <= 12 and "predrnn" not in snippet
    shutil.copy(exported["onnx"], tmp_path / "model.onnx")
    clip = (np.random.default_rng(0).random((12, 64, 64)) * 255).astype(np.uint8)
    np.save(tmp_path / "clip.npy", clip)
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/export.md", "exec"), {})
    predicted = np.load(tmp_path / "predicted.npy")
    module = open_checkpoint(workdir / "model.ckpt", module_class=PredRNNModule).module
    with torch.no_grad():
        want = Forecaster(module.network, 10).eval()(torch.from_numpy(clip[-10:] / 255).float()[None, :, None])
    assert predicted.shape == (10, 64, 64) and predicted.dtype == np.uint8
    assert np.abs(predicted.astype(int) - (want[0, :, 0].numpy() * 255).round().astype(int)).max() <= 1
