"""`predrnn-predict ckpt_path=… input=… output=…`: predict the next frames of given clips.

The console script over `predrnn.prediction.run.predict`; what it reads (the last
`input_length` frames of each clip, or the observed times of a CF series) and what it writes
(the predictions as .npy in the input's layout, or a CF netCDF-4 / Zarr forecast, and a GIF)
are described in `predrnn.prediction` and docs/usage.md.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from predrnn.cli.entry import entry_point, report_errors
from predrnn.cli.hydra_state import current_launch


def predict(cfg: DictConfig) -> Path:
    """The Hydra task: predict as `cfg` says, described by this launch's overrides."""
    from predrnn.prediction.run import predict as predict_frames

    return predict_frames(cfg, current_launch().task)


task = report_errors("predrnn-predict")(predict)  # the Hydra task, for in-process use
main = entry_point("predict", "predrnn-predict", predict)


if __name__ == "__main__":
    main()
