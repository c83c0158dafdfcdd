"""`predrnn-train [overrides]`: compose, validate, instantiate, fit, test."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from predrnn.build import build
from predrnn.checkpoints import resolve_checkpoint, same_experiment, start_from
from predrnn.cli.entry import entry_point, report_errors
from predrnn.config import instantiate_group
from predrnn.config.validation import in_multirun, processes_per_machine, validate_train
from predrnn.errors import BadValue
from predrnn.files import write_json
from predrnn.provenance import record
from predrnn.threads import share_cpus


def train(cfg: DictConfig, extra_callbacks: list | None = None) -> float:
    """Train (and test) as `cfg` says; returns `cfg.optimized_metric` for sweepers."""
    import pytorch_lightning as pl

    from predrnn.training.callbacks import GracefulStop
    from predrnn.training.console import print_run_summary, quiet_console

    validate_train(cfg)
    if not cfg.get("verbose") and os.environ.get("HYDRA_FULL_ERROR") != "1":
        quiet_console()
        os.environ.setdefault("WANDB_SILENT", "true")  # the closing summary says where the wandb run is
    share_cpus(processes_per_machine(cfg))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # before the network draws its initial weights
    datamodule, module = build(cfg)
    datamodule.check_sources()  # the digits and test file are read here, before anything is written
    while PRESET_NOTE:
        print(PRESET_NOTE.pop(), file=sys.stderr)
    ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), earlier_runs(cfg), "of this experiment under logs/")
    if ckpt_path is not None:
        ckpt_path = start_from(ckpt_path, module)
    output_dir = Path(cfg.paths.output_dir)

    callbacks = [instantiate_group(c, f"callbacks.{name}") for name, c in cfg.callbacks.items() if c is not None]
    callbacks.extend(extra_callbacks or [])
    for name, c in cfg.callbacks.items():  # a cross-check of a callback key against the data
        if c is not None and c.get("channel") is not None and c.channel >= datamodule.channels:
            raise BadValue(
                "channel", c.channel, f"must be below the data's {datamodule.channels} channels", 0
            ).in_group(f"callbacks.{name}")
    loggers = [instantiate_group(c, f"logger.{name}") for name, c in cfg.get("logger", {}).items() if c is not None]
    from predrnn.training.trainer import build_trainer

    trainer: pl.Trainer = build_trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    module.fast.prepare(module.network, trainer.strategy.root_device)  # before the run writes anything
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    stop = next((c for c in callbacks if isinstance(c, GracefulStop)), None)
    status, stopped = "failed", False
    summary: dict[str, Any] = {"output_dir": str(output_dir)}
    summary["reproduce"] = record(cfg.seed, trainer.strategy.root_device, datamodule.test_set_definition())
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        stopped = stop is not None and stop.received is not None
        summary["val"] = module.val_results or None
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and ckpt.best_model_score is not None:
            summary["best_val_mse"] = float(ckpt.best_model_score)
            summary["best_checkpoint"] = ckpt.best_model_path
        metric = trainer.callback_metrics.get(cfg.optimized_metric)
        if cfg.get("test") and not stopped:
            best = "best" if ckpt is not None and ckpt.best_model_path else None
            trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
            summary["test"] = module.test_results
        status = "interrupted" if stopped or trainer.interrupted else "finished"
    finally:
        summary["status"] = status
        summary["global_step"] = trainer.global_step
        if trainer.is_global_zero:
            output_dir.mkdir(parents=True, exist_ok=True)
            write_json(output_dir / "summary.json", summary)
        _finish_wandb(loggers)
    last = output_dir / "checkpoints" / "last.ckpt"
    resume = resume_command(last) if status == "interrupted" and last.is_file() else None
    print_run_summary(summary, output_dir, resume, datamodule.command_arguments())
    if stopped and not in_multirun():
        raise SystemExit(128 + stop.received)  # as a process stopped by that signal reports it
    if "best_val_mse" in summary and cfg.optimized_metric == "val/mse":
        return summary["best_val_mse"]
    return float(metric) if metric is not None else float("nan")


def resume_command(last: Path) -> str:
    """The command line that resumes this run from `last` (its overrides, with ckpt_path)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("ckpt_path=")]
    except ValueError:
        overrides = []
    return " ".join(["predrnn-train", *overrides, f"ckpt_path={last}"])


def earlier_runs(cfg: DictConfig) -> list[Path]:
    """The `last.ckpt` files of earlier training runs of this experiment (`ckpt_path=last`)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        current = HydraConfig.get().runtime.choices.get("experiment")
    except ValueError:
        current = None
    return same_experiment(cfg.paths.log_dir, cfg.paths.output_dir, current)


def _finish_wandb(loggers: list) -> None:
    """Close the wandb run, so that the next job of a sweep starts its own."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        wandb.finish()


def choose_experiment(args: list[str]) -> list[str]:
    """Without an `experiment=` override, the one that fits this machine: the paper's settings
    where a GPU is present, the CPU preset where none is (the paper's 4 × 128 network takes
    minutes per step on a CPU), said in one line once the run starts (`PRESET_NOTE`). An
    explicit experiment is always obeyed, and a run on other data (`data=arrays`) or with another
    network (`model=…`) gets none: the presets are PredRNN Moving MNIST benchmarks."""
    groups = {a.lstrip("+~").split("=")[0] for a in args}
    if {"experiment", "data", "model"} & groups or "--help" in args or "-h" in args:
        return args
    import torch

    if torch.cuda.is_available():
        choice, why = "paper_mnist", "a GPU is present: the paper's settings"
    else:
        choice, why = (
            "cpu_quick",
            "no GPU: the CPU preset, since the paper's 4 × 128 network takes minutes per step here",
        )
    other = "cpu_quick" if choice == "paper_mnist" else "paper_mnist"
    PRESET_NOTE.append(
        f"predrnn-train: experiment={choice} ({why}); choose another with experiment=NAME "
        f"(make train EXPERIMENT=NAME), e.g. experiment={other}"
    )
    return [*args, f"experiment={choice}"]


PRESET_NOTE: list[str] = []  # said once the run's config has passed its checks


task = report_errors("predrnn-train")(train)  # the Hydra task, for in-process use
_hydra_main = entry_point("train", "predrnn-train", train)


def main() -> None:
    sys.argv[1:] = choose_experiment(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
