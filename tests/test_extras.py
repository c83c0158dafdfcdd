"""The lean core and its extras (predrnn/extras.py, docs/install.md): the main job runs with
every extra missing, and each optional capability, its library missing, asks for its extra by
name in one line (exit code 2 at an entry point).

"Missing" is made real in a subprocess: a `sitecustomize` on PYTHONPATH hides the modules named
in PREDRNN_TEST_BLOCK from the import system (`find_spec` says None, `import` raises
ModuleNotFoundError) and from Hydra's plugin scan, as if they were not installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from predrnn.errors import MissingExtra
from predrnn.extras import EXTRAS, PLUGIN_OPTIONS, require

ROOT = Path(__file__).resolve().parents[1]
EVERY_EXTRA_MODULE = sorted({module for extra in EXTRAS.values() for module in extra.modules})

BLOCKER = '''
import os, pkgutil, sys
from importlib.machinery import PathFinder

BLOCKED = tuple(n for n in os.environ.get("PREDRNN_TEST_BLOCK", "").split(",") if n)


def blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)


class Without:
    """The path finder, blind to the blocked modules."""

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        return None if blocked(name) else self.inner.find_spec(name, path, target)

    def __getattr__(self, name):
        return getattr(self.inner, name)


sys.meta_path[:] = [Without(f) if f is PathFinder else f for f in sys.meta_path]
for name in [m for m in sys.modules if blocked(m)]:
    del sys.modules[name]
walk = pkgutil.walk_packages  # Hydra finds its plugins by walking hydra_plugins/
pkgutil.walk_packages = lambda *a, **k: (m for m in walk(*a, **k) if not blocked(m.name))
'''

# (case, extra, the package its line names, Python run with every extra missing: a library path,
# or argv of an entry point, which must exit with code 2)
CASES = [
    ("hdf5", "formats", "h5py", "open_sources(Path('clips.h5'), Options())"),
    ("zarr", "formats", "zarr", "open_sources(Path('store.zarr'), Options())"),
    ("video", "formats", "av", "open_sources(Path('clip.mp4'), Options())"),
    ("bair", "bair", "tfrecord", "open_sources(Path('traj.tfrecords'), Options())"),
    ("sevir", "sevir", "pandas", "read_catalog(Path('.'))"),
    ("dates", "xarray", "pandas", "parse_step('10min')"),
    ("forecast", "xarray", "xarray", "forecast_dataset(np.zeros((1, 1, 1, 2, 2)), None, [], [])"),
    ("nowcast", "nowcast", "opencv-python-headless", "require_pysteps()"),
    ("export", "export", "onnx", "export(Forecaster(PredRNN((4,), 1, 8, 2, 3, input_length=2), 1), 'onnx', PATH, '')"),
    ("optuna", "optuna", "hydra-optuna-sweeper", ["-m", "experiment=smoke", "hparams_search=optuna"]),
    ("joblib", "joblib", "hydra-joblib-launcher", ["-m", "experiment=smoke", "hydra/launcher=joblib"]),
    ("slurm", "slurm", "hydra-submitit-launcher", ["-m", "experiment=smoke", "hydra/launcher=slurm_local"]),
    ("xarray", "xarray", "xarray", ["data=xarray", "data.path=radar.nc", "trainer=cpu", "logger=csv"]),
    ("tensorboard", "tensorboard", "tensorboard", ["experiment=smoke", "logger=tensorboard"]),
]

RUNNER = """
import contextlib, io, json, sys
from pathlib import Path

import numpy as np

from predrnn.cli.train import main
from predrnn.data.forecast_writer import forecast_dataset
from predrnn.data.readers.api import Options
from predrnn.data.sevir import read_catalog
from predrnn.data.sources import open_sources
from predrnn.data.timeline import parse_step
from predrnn.export import Forecaster, export
from predrnn.extrapolation import require_pysteps
from predrnn.models.predrnn import PredRNN

PATH = Path("model.onnx")

results = {}
for name, run in json.loads(sys.argv[1]):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            if isinstance(run, str):
                exec(run)
            else:
                sys.argv = ["predrnn-train", *run]
                main()
        results[name] = {"code": 0, "error": err.getvalue()}
    except SystemExit as stop:
        results[name] = {"code": stop.code, "error": err.getvalue()}
    except Exception as caught:
        results[name] = {"code": None, "error": f"{type(caught).__name__}: {caught}"}
print("RESULTS " + json.dumps(results))
"""


def without_extras(tmp: Path, *command: str, blocked=EVERY_EXTRA_MODULE) -> subprocess.CompletedProcess:
    """Python run in `tmp` with the `blocked` modules missing."""
    (tmp / "blocker").mkdir(exist_ok=True)
    (tmp / "blocker" / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(tmp / "blocker"), "PREDRNN_TEST_BLOCK": ",".join(blocked),
           "PREDRNN_ROOT": str(tmp), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}  # fmt: skip
    return subprocess.run([sys.executable, *command], cwd=tmp, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def missing(tmp_path_factory) -> dict[str, dict]:
    """What every case of CASES did, all in one process with every extra missing."""
    tmp = tmp_path_factory.mktemp("extras")
    (tmp / "clips.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(504))
    (tmp / "store.zarr").mkdir()
    (tmp / "store.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    (tmp / "clip.mp4").write_bytes(bytes(64))
    (tmp / "traj.tfrecords").write_bytes(bytes(64))
    (tmp / "radar.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(504))
    done = without_extras(tmp, "-c", RUNNER, json.dumps([(name, run) for name, _, _, run in CASES]))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULTS "))


@pytest.mark.slow
@pytest.mark.parametrize("case, extra, package, run", CASES, ids=[c[0] for c in CASES])
def test_a_missing_extra_is_one_line_naming_it(case, extra, package, run, missing):
    result = missing[case]
    line = result["error"].strip()
    if isinstance(run, list):  # an entry point: `predrnn-train: error: …`, exit code 2
        assert result["code"] == 2, line
        assert line.startswith("predrnn-train: error: "), line
    else:
        assert line.startswith("MissingExtra: "), line
    assert "\n" not in line
    assert f"({package} is missing): pip install 'predrnn[{extra}]'" in line, line


@pytest.mark.slow
def test_the_main_job_runs_with_every_extra_missing(tmp_path):
    """A Moving MNIST run as `make train` makes it (CPU-sized), its media and the wandb logger's
    module included: nothing on that path may import an extra."""
    code = (
        "import importlib.util, sys\n"
        f"assert all(importlib.util.find_spec(m) is None for m in {EVERY_EXTRA_MODULE!r})\n"
        "import predrnn.training.loggers\n"
        "from predrnn.cli.train import main\n"
        "sys.argv = ['predrnn-train', 'experiment=smoke', 'trainer.max_steps=2', 'data.train_size=8',\n"
        "            'data.val_size=4', 'data.test_size=4']\n"
        "main()\n"
    )
    done = without_extras(tmp_path, "-c", code)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "media").glob("*.gif")) and (run / "metrics_per_frame.png").is_file()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_extra_is_in_pyproject_with_its_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    core = {_name(r) for r in project["dependencies"]}
    for extra, what in EXTRAS.items():
        assert extra in optional, f"pyproject.toml has no extra {extra}"
        declared = {_name(r) for r in optional[extra]}
        for package in what.modules.values():
            assert package.lower() in declared, f"pyproject.toml's {extra} extra lacks {package}"
            assert package.lower() not in core, f"{package} is a core dependency and in the {extra} extra"
    assert set(PLUGIN_OPTIONS.values()) <= set(EXTRAS)
    dev = {e for r in optional["dev"] for e in re.findall(r"predrnn\[([^\]]+)\]", r) for e in e.split(",")}
    assert set(EXTRAS) <= dev, f"make install (.[dev]) misses {set(EXTRAS) - dev}"


def test_require_names_the_extra_and_the_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import then raises ImportError, as when not installed
    with pytest.raises(MissingExtra) as caught:
        require("cv2", "nowcast", "baselines=[extrapolation]")
    assert str(caught.value) == (
        "baselines=[extrapolation] needs pySTEPS and OpenCV (opencv-python-headless is missing): "
        "pip install 'predrnn[nowcast]'"
    )
