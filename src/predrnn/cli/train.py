"""`predrnn-train [overrides]`: compose, validate, instantiate, fit, test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from predrnn.config import check_launch, entry_point, report_errors, resolve_checkpoint, validate_train
from predrnn.toolchain import require_cpu_compiler


def train(cfg: DictConfig, extra_callbacks: list | None = None) -> float:
    """Train (and test) as `cfg` says; returns `cfg.optimized_metric` for sweepers."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    validate_train(cfg)
    check_launch(cfg)
    fit_threads_to_affinity()
    ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), cfg.paths.log_dir)
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)

    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.module)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    callbacks.append(instantiate(cfg.sampling))
    callbacks.extend(extra_callbacks or [])
    loggers = [instantiate(c) for c in cfg.get("logger", {}).values() if c is not None]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    # before the run writes anything
    require_cpu_compiler("module.compile", cfg.module.get("compile"), trainer.strategy.root_device.type)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    status = "failed"
    summary: dict[str, Any] = {"output_dir": str(output_dir)}
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        summary["val"] = getattr(module, "val_results", None)
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and ckpt.best_model_score is not None:
            summary["best_val_mse"] = float(ckpt.best_model_score)
            summary["best_checkpoint"] = ckpt.best_model_path
        metric = trainer.callback_metrics.get(cfg.optimized_metric)
        if cfg.get("test"):
            best = "best" if ckpt is not None and ckpt.best_model_path else None
            trainer.test(module, datamodule=datamodule, ckpt_path=best)
            summary["test"] = module.test_results
        status = "finished" if not trainer.interrupted else "interrupted"
    finally:
        summary["status"] = status
        summary["global_step"] = trainer.global_step
        if trainer.is_global_zero:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        _finish_wandb(loggers)
    if "best_val_mse" in summary and cfg.optimized_metric == "val/mse":
        return summary["best_val_mse"]
    return float(metric) if metric is not None else float("nan")


def fit_threads_to_affinity() -> None:
    """Use no more threads than the CPUs this process may run on (a SLURM or submitit job is
    pinned to cpus_per_task): more OpenMP threads than CPUs spin against each other."""
    import os

    import torch

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return
    if torch.get_num_threads() > cpus:
        torch.set_num_threads(cpus)


def _finish_wandb(loggers: list) -> None:
    """Close the wandb run, so that the next job of a sweep starts its own."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        wandb.finish()


_task = report_errors("predrnn-train")(train)  # the Hydra task, for in-process use
main = entry_point("train", "predrnn-train", train)


if __name__ == "__main__":
    main()
