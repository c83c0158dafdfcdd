"""`predrnn-export ckpt_path=… format=onnx|torchscript|exported-program output=…`: the
inference rollout as a self-contained artefact for deployment (see `predrnn.export`).
The console script over `predrnn.checkpoint_export.export_checkpoint`."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from predrnn.cli.entry import entry_point, report_errors
from predrnn.cli.hydra_state import current_launch


def export_task(cfg: DictConfig) -> Path:
    """The Hydra task: export as `cfg` says, described by this launch's overrides."""
    from predrnn.checkpoint_export import export_checkpoint

    return export_checkpoint(cfg, current_launch().task)


task = report_errors("predrnn-export")(export_task)  # the Hydra task, for in-process use
main = entry_point("export", "predrnn-export", export_task)


if __name__ == "__main__":
    main()
