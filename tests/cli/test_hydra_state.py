"""Hydra's global state is read at the entry points only: no module outside `predrnn.cli`
imports `HydraConfig` (library code gets a `predrnn.launch.Launch` or plain values as
arguments), and what `predrnn.cli.hydra_state` reads is what Hydra says about the launch."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "src" / "predrnn"


def hydra_config_imports(path: Path) -> list[int]:
    """The lines where `path` imports HydraConfig (or the module that defines it), anywhere."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module.startswith("hydra.core.hydra_config") or (
                node.module == "hydra.core" and any(a.name == "hydra_config" for a in node.names)
            ):
                lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(a.name.startswith("hydra.core.hydra_config") for a in node.names):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_the_entry_points_reads_hydra_config():
    found = {
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts[:1]
        for line in hydra_config_imports(path)
    }
    assert not found, f"HydraConfig read outside predrnn.cli: {sorted(found)} (take a Launch as an argument)"
    entry_points = [p for p in (PACKAGE / "cli").glob("*.py") if hydra_config_imports(p)]
    assert PACKAGE / "cli" / "hydra_state.py" in entry_points  # the scan sees the reads it allows


def test_the_scan_finds_every_spelling(tmp_path):
    spellings = [
        "from hydra.core.hydra_config import HydraConfig\n",
        "def f():\n    from hydra.core.hydra_config import HydraConfig\n",
        "import hydra.core.hydra_config\n",
        "from hydra.core import hydra_config\n",
    ]
    for i, text in enumerate(spellings):
        (tmp_path / f"m{i}.py").write_text(text)
        assert hydra_config_imports(tmp_path / f"m{i}.py"), text
    (tmp_path / "clean.py").write_text("from hydra.utils import instantiate\n")
    assert not hydra_config_imports(tmp_path / "clean.py")


def test_the_launch_is_what_hydra_says(tmp_path):
    from helpers import compose
    from predrnn.cli.hydra_state import current_launch
    from predrnn.launch import Launch

    compose("train", tmp_path, ["experiment=smoke", "data.batch_size=2"])
    launch = current_launch()
    assert launch.in_hydra and not launch.multirun and launch.choice("experiment") == "smoke"
    assert launch.given("data") and not launch.given("metrics") and "data.batch_size=2" in launch.task
    compose("train", tmp_path, ["hparams_search=sampling_curves"])
    assert current_launch().multirun
    assert Launch().choice("metrics", "default") == "default" and not Launch().given("data")


def test_the_wandb_group_is_the_sweep_folder_given_by_the_config_not_read_from_hydra(tmp_path):
    """`${predrnn_sweep_group:${hydra:mode},${hydra:sweep.dir}}`: the resolver gets Hydra's mode
    and sweep folder as arguments (a sweep's wandb runs are grouped by its folder's name)."""
    from pathlib import Path

    from helpers import compose
    from predrnn.resolvers import sweep_group

    assert compose("train", tmp_path, ["logger=wandb"]).logger.wandb.group is None
    cfg = compose("train", tmp_path, ["logger=wandb", "hparams_search=sampling_curves"])
    assert cfg.logger.wandb.group == Path(cfg.hydra.sweep.dir).name
    assert sweep_group("MULTIRUN", "/a/b/2026-01-01") == "2026-01-01" and sweep_group("RUN", "/a/b") is None
