"""`predrnn-eval ckpt_path=… [data.test_file=…]`: test metrics of a checkpoint.

Writes metrics.json (every configured metric, its per-frame list and the baselines'), the
per-frame plot and media into the run folder, and prints a per-frame table. For data with times
(data=xarray) metrics.json also lists each frame's lead time (`lead_times_minutes`) and the
table labels the frames "+10 min" …; data of other variables than the checkpoint's (its
`data_description`) is refused in one line. The console script over
`predrnn.evaluation.evaluate`.
"""

from __future__ import annotations

from omegaconf import DictConfig

from predrnn.cli.entry import entry_point, report_errors
from predrnn.cli.hydra_state import current_launch


def evaluate(cfg: DictConfig) -> dict:
    """The Hydra task: test as `cfg` says, with this launch's overrides and choices."""
    from predrnn.evaluation import evaluate as evaluate_checkpoint  # torch and Lightning: after the config's checks

    return evaluate_checkpoint(cfg, current_launch())


task = report_errors("predrnn-eval")(evaluate)  # the Hydra task, for in-process use
main = entry_point("eval", "predrnn-eval", evaluate)


if __name__ == "__main__":
    main()
