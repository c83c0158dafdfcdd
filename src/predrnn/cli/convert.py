"""`predrnn-convert ckpt_path=official.ckpt output=native.ckpt <model/data overrides>`: an
official PredRNN or OpenSTL checkpoint as a predrnn checkpoint (its settings saved with it), so that eval,
predict, export and fine-tuning (`predrnn-train ckpt_path=native.ckpt`) take it like any other.
The console script over `predrnn.conversion.convert`."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from predrnn.cli.entry import entry_point, report_errors
from predrnn.cli.hydra_state import current_launch


def convert(cfg: DictConfig) -> Path:
    """The Hydra task: convert as `cfg` says, described by this launch's overrides."""
    from predrnn.conversion import convert as convert_checkpoint

    return convert_checkpoint(cfg, current_launch().task)


task = report_errors("predrnn-convert")(convert)  # the Hydra task, for in-process use
main = entry_point("convert", "predrnn-convert", convert)


if __name__ == "__main__":
    main()
