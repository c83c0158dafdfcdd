"""The test metrics of a checkpoint: the library side of `predrnn-eval` (`cli/evaluate.py`).

Writes metrics.json (every configured metric, its per-frame list and the baselines'), the
per-frame plot and media into the run folder, and prints a per-frame table. For data with times
(data=xarray) metrics.json also lists each frame's lead time (`lead_times_minutes`) and the
table labels the frames "+10 min" …; data of other variables than the checkpoint's (its
`data_description`) is refused in one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from predrnn import checks
from predrnn.config_groups import instantiate_group
from predrnn.errors import DataError
from predrnn.launch import Launch
from predrnn.training.signals import Stopped


def evaluate(cfg: DictConfig, launch: Launch) -> dict:
    """Test the checkpoint `cfg.ckpt_path` on the data `cfg` and `launch` (its overrides and
    choices) describe: the test results; metrics.json, the plot and media in the run folder."""
    import pytorch_lightning as pl

    # torch and Lightning only now: a config error is answered before them (cli/entry.py)
    from predrnn import compatibility
    from predrnn.build import build_data, described_network, evaluation_settings
    from predrnn.checkpoints import open_checkpoint, resolve_checkpoint, single_run_checkpoints
    from predrnn.threads import share_cpus
    from predrnn.training.module import PredRNNModule
    from predrnn.training.prediction_media import PredictionMedia
    from predrnn.training.test_report import TestReport
    from predrnn.training.trainer import build_trainer

    checks.integer("num_media", cfg.get("num_media"), 2, minimum=0)
    share_cpus(1)
    ckpt = resolve_checkpoint(cfg.ckpt_path, single_run_checkpoints(cfg.paths.log_dir), "under logs/train")
    adopted = compatibility.adopt_the_runs_settings(cfg, Path(ckpt), launch)
    if adopted:
        print(f"predrnn-eval: {adopted}")
    opened = open_checkpoint(
        ckpt, cfg, module_class=PredRNNModule, compile=cfg.module.compile, channels_last=cfg.module.channels_last,
        describe=lambda: described_network(cfg), overrides=launch.task,
    )  # fmt: skip
    print(f"predrnn-eval: checkpoint {opened.describe()}")
    module = opened.module
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    net = module.network
    # the model decides the observed length, the frame shape and the units; the config the rest
    datamodule = build_data(cfg, input_length=net.input_length)
    compatibility.check_variables(datamodule, module.hparams.get("data_description"), ckpt)
    compatibility.check_data(datamodule.served_frames(), net)
    datamodule.adopt(net, module.normalization)
    if opened.state.get("climatology") is not None and hasattr(datamodule, "adopt_climatology"):
        from predrnn.data.climatology import Climatology  # the ACC's, fitted on the run's training years

        datamodule.adopt_climatology(Climatology.from_state(opened.state["climatology"]))
    compatibility.check_kind_of_values(datamodule, module.normalization, ckpt)
    module.configure_evaluation(**evaluation_settings(cfg, datamodule))
    datamodule.check_sources(("test",))  # a bad test file fails here, before the run writes anything
    test_range = datamodule.value_range("test")
    if test_range is not None:  # float data: far outside the checkpoint's range is an error, beyond it a warning
        h = datamodule.hparams
        key = "test_path" if h.get("test_path") else "path"
        for line in module.normalization.check_range(*test_range, f"the test split of data.{key}={h.get(key)}"):
            print(f"predrnn-eval: {line}", file=sys.stderr)
    output_dir = Path(cfg.paths.output_dir)
    report = TestReport(dirpath=str(output_dir), extra={"checkpoint": ckpt})
    callbacks = [
        report,
        PredictionMedia(num_sequences=cfg.num_media, dirpath=str(output_dir), step=opened.state.get("global_step")),
    ]
    loggers = [instantiate_group(c, "logger") for c in cfg.get("logger", {}).values() if c is not None]
    trainer: pl.Trainer = build_trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    module.fast.prepare(net, trainer.strategy.root_device)  # before the run writes anything
    try:
        trainer.test(module, datamodule=datamodule, verbose=False)  # TestReport prints the table
    except Stopped as stop:  # Ctrl-C / SIGTERM: exit 130 / 143 (entry_point), saying what is missing
        written = report.path is not None and report.path.is_file()
        missing = "its media and plots may be missing" if written else "metrics.json was not written"
        stop.not_written = f"the test did not finish: {missing} ({output_dir})"
        raise
    if not module.test_results.get("num_sequences"):
        raise DataError(
            "the test set holds no sequences: give a test file with some (data.test_file) or data.test_size > 0"
        )
    return module.test_results
