"""A training run: `train(cfg)` validates the composed config, builds the data, module, callbacks,
loggers and trainer, fits, tests the best checkpoint, writes `summary.json` whatever happens,
and ends with the closing lines (docs/usage.md). `predrnn-train` (cli/train.py) is this with
Hydra in front; tests, notebooks and benchmarks call it on a config of their own
(`predrnn.cli.hydra_state.compose`)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from predrnn.command_line import data_arguments, evaluation_overrides, network_overrides
from predrnn.config_groups import instantiate_group
from predrnn.data.remote import redact_options
from predrnn.launch import Launch
from predrnn.training.run_record import record_signal, resume_command, save_sample_input, write_summary
from predrnn.training.signals import Stopped
from predrnn.validation import check_against_data, processes_per_machine, validate_train


@dataclass
class Run:
    """A training run's parts, built and checked before anything is written."""

    cfg: DictConfig
    launch: Launch
    datamodule: Any
    module: Any
    trainer: Any
    loggers: list
    ckpt_path: str | None
    stop: Any
    output_dir: Path


def train(
    cfg: DictConfig, launch: Launch | None = None, extra_callbacks: list | None = None, preset_note: str | None = None
) -> float:
    """Train (and test) as `cfg` says; returns `cfg.optimized_metric` for sweepers. `launch`:
    what the entry point read from Hydra (the command line's overrides and choices, a sweep's
    job or not); the default is a config composed outside a Hydra app. `extra_callbacks` join
    the config's; `preset_note` is the line that says which preset the entry point chose."""
    run = build_run(cfg, launch or Launch(), extra_callbacks or [], preset_note)
    summary = fit_and_test(run)
    return finish(run, summary)


def build_run(cfg: DictConfig, launch: Launch, extra_callbacks: list, preset_note: str | None) -> Run:
    """Validate, build the data, module, callbacks, loggers and trainer, and decide what the
    run starts from; every user error is raised here, before the run folder gets a file."""
    import pytorch_lightning as pl

    from predrnn.build import build  # torch and Lightning: after the config's checks (cli/entry.py)
    from predrnn.checkpoints import resolve_checkpoint, start_from
    from predrnn.threads import share_cpus
    from predrnn.training.noise import quiet_unless_verbose
    from predrnn.training.stopping import GracefulStop
    from predrnn.training.trainer import build_trainer

    validate_train(cfg, launch)
    quiet_unless_verbose(bool(cfg.get("verbose")))
    share_cpus(processes_per_machine(cfg, launch))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # before the network draws its initial weights
    datamodule, module = build(cfg)
    datamodule.check_sources()  # the digits and test file are read here, before anything is written
    check_against_data(cfg, datamodule)
    if preset_note:
        print(preset_note, file=sys.stderr)
    ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), earlier_runs(cfg, launch), "of this experiment under logs/")
    if ckpt_path is not None:
        chosen = ckpt_path
        ckpt_path = start_from(ckpt_path, module)  # a checkpoint it refuses is the one line, alone
        print(f"predrnn-train: checkpoint {chosen} (ckpt_path={cfg.ckpt_path})", file=sys.stderr)
    callbacks = [instantiate_group(c, f"callbacks.{name}") for name, c in cfg.callbacks.items() if c is not None]
    callbacks.extend(extra_callbacks)
    loggers = [instantiate_group(c, f"logger.{name}") for name, c in cfg.get("logger", {}).items() if c is not None]
    bar = {} if cfg.callbacks.get("progress_bar") else {"enable_progress_bar": False}  # null: no bar (not Lightning's)
    trainer: pl.Trainer = build_trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False, **bar)
    module.fast.prepare(module.network, trainer.strategy.root_device)  # before the run writes anything
    logged = OmegaConf.to_container(cfg, resolve=True)
    if logged["data"].get("storage_options"):  # credentials never reach a logger (docs/data.md, "Remote stores")
        logged["data"]["storage_options"] = redact_options(logged["data"]["storage_options"])
    for logger in loggers:
        logger.log_hyperparams(logged)
    stop = next((c for c in callbacks if isinstance(c, GracefulStop)), None)
    return Run(cfg, launch, datamodule, module, trainer, loggers, ckpt_path, stop, Path(cfg.paths.output_dir))


def fit_and_test(run: Run) -> dict[str, Any]:
    """Fit, then test the best checkpoint; `summary.json` is written whatever happens."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from predrnn.provenance import record

    cfg, trainer, module = run.cfg, run.trainer, run.module
    summary: dict[str, Any] = {"output_dir": str(run.output_dir), "status": "failed"}
    summary["reproduce"] = record(cfg.seed, trainer.strategy.root_device, run.datamodule.test_set_definition())
    summary["data_summary"] = run.datamodule.data_summary()  # what each split holds (docs/data.md)
    try:
        started = time.perf_counter()
        try:
            trainer.fit(module, datamodule=run.datamodule, ckpt_path=run.ckpt_path, weights_only=True)
        except SIGTERMException:  # GracefulStop cut a validation short, after saving last.ckpt
            if run.stop is None or run.stop.received is None:
                raise
        summary["fitted"] = True
        summary["fit_seconds"] = round(time.perf_counter() - started, 1)  # training + its validations, wall time
        stopped = run.stop is not None and run.stop.received is not None
        if stopped:
            record_signal(summary, run.stop.received, "the test (training stopped early; last.ckpt holds the step)")
        summary["val"] = module.val_results or None
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and ckpt.best_model_score is not None:
            summary["best_val_mse"] = float(ckpt.best_model_score)
            summary["best_checkpoint"] = ckpt.best_model_path
        metric = trainer.callback_metrics.get(cfg.optimized_metric)
        summary["optimized"] = None if metric is None else float(metric)
        if cfg.get("test") and not stopped:
            best = "best" if ckpt is not None and ckpt.best_model_path else None
            trainer.test(module, datamodule=run.datamodule, ckpt_path=best, verbose=False, weights_only=True)
            summary["test"] = module.test_results
        summary["status"] = "interrupted" if stopped or trainer.interrupted else "finished"
    except Stopped as stop:  # Ctrl-C / SIGTERM outside the training loop (the test, the setup)
        summary["status"] = "interrupted"
        fitted = summary.pop("fitted", False)
        what = (
            "metrics.json (training finished, the test did not)"
            if fitted
            else f"the rest of the run (stopped at step {trainer.global_step} outside a training step)"
        )
        record_signal(summary, stop.signum, what)
        stop.not_written = f"not written: {what}; summary.json says so"
        raise
    finally:
        summary.pop("fitted", None)
        summary["global_step"] = trainer.global_step
        if trainer.is_global_zero:
            write_summary(run.output_dir, summary)
        _finish_wandb(run.loggers)
    return summary


def finish(run: Run, summary: dict[str, Any]) -> float:
    """The closing lines; exit as the signal that stopped the run did; the value a sweep optimises."""
    from pytorch_lightning.utilities import rank_zero_only

    from predrnn.training.run_summary import print_run_summary

    launch = run.launch
    last = run.output_dir / "checkpoints" / "last.ckpt"
    interrupted = summary["status"] == "interrupted" and last.is_file()
    resume = resume_command(last, launch.task, launch.hydra) if interrupted else None
    input_length = run.module.network.input_length
    sample = save_sample_input(run.output_dir, run.datamodule, input_length) if run.trainer.is_global_zero else None
    evaluate, predict = map(data_arguments, run.datamodule.command_overrides())
    scored = "".join(f" {arg}" for arg in evaluation_overrides(run.cfg, launch.choice("metrics", "default")))
    print_run_summary(summary, run.output_dir, resume, (evaluate + scored, predict), sample, network_overrides(launch))
    if run.stop is not None and run.stop.received is not None and not launch.multirun:
        rank_zero_only(print)(
            f"predrnn-train: {summary.get('signal')} received: stopped at step {summary.get('global_step')}; "
            f"{'last.ckpt saved' if last.is_file() else 'no last.ckpt'}; not written: {summary.get('not_written')}",
            file=sys.stderr,
        )
        raise SystemExit(128 + run.stop.received)  # as a process stopped by that signal reports it
    if "best_val_mse" in summary and run.cfg.optimized_metric == "val/mse":
        return summary["best_val_mse"]
    return summary["optimized"] if summary.get("optimized") is not None else float("nan")


def earlier_runs(cfg: DictConfig, launch: Launch) -> list[Path]:
    """The `last.ckpt` files of earlier training runs of this experiment (`ckpt_path=last`)."""
    from predrnn.checkpoints import same_experiment

    return same_experiment(cfg.paths.log_dir, cfg.paths.output_dir, launch.choice("experiment"))


def _finish_wandb(loggers: list) -> None:
    """Close the wandb run, so that the next job of a sweep starts its own."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        wandb.finish()
