"""`predrnn-eval ckpt_path=… [data.test_file=…]`: test metrics of a checkpoint.

Writes metrics.json (mse, mae, ssim, psnr and their per-frame lists), the per-frame plot and
media into the run folder, and prints a per-frame table.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from predrnn.config import entry_point, report_errors, resolve_checkpoint
from predrnn.toolchain import require_cpu_compiler


def evaluate(cfg: DictConfig) -> dict:
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from predrnn.cli.checkpoint import load_module
    from predrnn.training.callbacks import PredictionMedia, TestReport

    ckpt = resolve_checkpoint(cfg.ckpt_path, cfg.paths.log_dir)
    module = load_module(ckpt, compile=cfg.compile, channels_last=cfg.channels_last)
    pl.seed_everything(cfg.seed, workers=True)
    net = module.network.init_args
    # the model decides the observed length and the frame size; the config the rest
    datamodule = instantiate(cfg.data, input_length=net["input_length"], image_size=net["image_size"][0])
    output_dir = Path(cfg.paths.output_dir)
    report = TestReport(dirpath=str(output_dir), extra={"checkpoint": ckpt})
    callbacks = [report, PredictionMedia(num_sequences=cfg.num_media, dirpath=str(output_dir))]
    loggers = [instantiate(c) for c in cfg.get("logger", {}).values() if c is not None]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    require_cpu_compiler("compile", cfg.compile, trainer.strategy.root_device.type)
    trainer.test(module, datamodule=datamodule)
    return module.test_results


_task = report_errors("predrnn-eval")(evaluate)  # the Hydra task, for in-process use
main = entry_point("eval", "predrnn-eval", evaluate)


if __name__ == "__main__":
    main()
