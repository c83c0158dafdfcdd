"""`predrnn-train [overrides]`: compose, validate, instantiate, fit, test."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from predrnn.cli.entry import Stopped, entry_point, report_errors
from predrnn.command_line import evaluation_overrides, override_text, script_command, shell_word
from predrnn.config import instantiate_group
from predrnn.config.validation import check_against_data, in_multirun, processes_per_machine, validate_train
from predrnn.data.remote import redact_options
from predrnn.files import write_json


@dataclass
class Run:
    """A training run's parts, built and checked before anything is written."""

    cfg: DictConfig
    datamodule: Any
    module: Any
    trainer: Any
    loggers: list
    ckpt_path: str | None
    stop: Any
    output_dir: Path


def train(cfg: DictConfig, extra_callbacks: list | None = None, preset_note: str | None = None) -> float:
    """Train (and test) as `cfg` says; returns `cfg.optimized_metric` for sweepers."""
    run = build_run(cfg, extra_callbacks or [], preset_note)
    summary = fit_and_test(run)
    return finish(run, summary)


def build_run(cfg: DictConfig, extra_callbacks: list, preset_note: str | None) -> Run:
    """Validate, build the data, module, callbacks, loggers and trainer, and decide what the
    run starts from; every user error is raised here, before the run folder gets a file."""
    import pytorch_lightning as pl

    from predrnn.build import build  # torch and Lightning: after the config's checks (entry.py)
    from predrnn.checkpoints import resolve_checkpoint, start_from
    from predrnn.threads import share_cpus
    from predrnn.training.callbacks import GracefulStop
    from predrnn.training.console import quiet_console
    from predrnn.training.trainer import build_trainer

    validate_train(cfg)
    if not cfg.get("verbose") and os.environ.get("HYDRA_FULL_ERROR") != "1":
        quiet_console()
        os.environ.setdefault("WANDB_SILENT", "true")  # the closing summary says where the wandb run is
    share_cpus(processes_per_machine(cfg))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # before the network draws its initial weights
    datamodule, module = build(cfg)
    datamodule.check_sources()  # the digits and test file are read here, before anything is written
    check_against_data(cfg, datamodule)
    if preset_note:
        print(preset_note, file=sys.stderr)
    ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), earlier_runs(cfg), "of this experiment under logs/")
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
    return Run(cfg, datamodule, module, trainer, loggers, ckpt_path, stop, Path(cfg.paths.output_dir))


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
            _record_signal(summary, run.stop.received, "the test (training stopped early; last.ckpt holds the step)")
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
        _record_signal(summary, stop.signum, what)
        stop.not_written = f"not written: {what}; summary.json says so"
        raise
    finally:
        summary.pop("fitted", None)
        summary["global_step"] = trainer.global_step
        if trainer.is_global_zero:
            run.output_dir.mkdir(parents=True, exist_ok=True)
            write_json(run.output_dir / "summary.json", summary)
        _finish_wandb(run.loggers)
    return summary


def finish(run: Run, summary: dict[str, Any]) -> float:
    """The closing lines; exit as the signal that stopped the run did; the value a sweep optimises."""
    from pytorch_lightning.utilities import rank_zero_only

    from predrnn.training.console import print_run_summary

    last = run.output_dir / "checkpoints" / "last.ckpt"
    resume = resume_command(last) if summary["status"] == "interrupted" and last.is_file() else None
    sample = save_sample_input(run) if run.trainer.is_global_zero else None
    evaluate, predict = run.datamodule.command_arguments()
    scored = "".join(f" {arg}" for arg in evaluation_overrides(run.cfg, _choice("metrics", "default")))
    print_run_summary(summary, run.output_dir, resume, (evaluate + scored, predict), sample)
    if run.stop is not None and run.stop.received is not None and not in_multirun():
        rank_zero_only(print)(
            f"predrnn-train: {summary.get('signal')} received: stopped at step {summary.get('global_step')}; "
            f"{'last.ckpt saved' if last.is_file() else 'no last.ckpt'}; not written: {summary.get('not_written')}",
            file=sys.stderr,
        )
        raise SystemExit(128 + run.stop.received)  # as a process stopped by that signal reports it
    if "best_val_mse" in summary and run.cfg.optimized_metric == "val/mse":
        return summary["best_val_mse"]
    return summary["optimized"] if summary.get("optimized") is not None else float("nan")


SAMPLE_CLIPS = 2  # test clips in sample_input.npy: enough to try predict on, small on disk


def save_sample_input(run: Run) -> tuple[Path, str] | None:
    """The observed frames of a few of the run's test clips, as `sample_input.npy` in the run
    folder ((N, J, C, H, W) in the data's units), so that the printed predict command runs as
    printed on held-out clips; returns the file and the overrides that read it, or None (clips
    with actions, or no test clips)."""
    import numpy as np

    path = run.output_dir / "sample_input.npy"
    try:
        dataset = run.datamodule.eval_dataset("test")
        if dataset is None:
            run.datamodule.setup("test")
            dataset = run.datamodule.eval_dataset("test")
        count = min(SAMPLE_CLIPS, len(dataset))
        clips = dataset.__getitems__(list(range(count))) if count else None
    except Exception:  # the sample is a convenience: the run's own results don't depend on it
        return None
    if isinstance(clips, dict) and set(clips) == {"frames", "times"}:  # data=xarray's windows with their times
        clips = clips["frames"]
    if clips is None or isinstance(clips, dict):  # none, or frames with actions (predict needs the actions file)
        return None
    np.save(path, np.ascontiguousarray(np.asarray(clips)[:, : run.module.network.input_length]))
    return path, " data.layout=NTCHW"


def _record_signal(summary: dict[str, Any], signum: int, not_written: str) -> None:
    """summary.json says which signal stopped the run, the exit code it ends with, and what is missing."""
    import signal

    summary.update(signal=signal.Signals(signum).name, exit_code=128 + signum, not_written=not_written)


def resume_command(last: Path) -> str:
    """The command line that resumes this run from `last` (its overrides, with ckpt_path), each
    quoted for the shell where it needs it."""
    from hydra.core.hydra_config import HydraConfig

    try:
        hydra_cfg = HydraConfig.get()
        overrides = [o for o in hydra_cfg.overrides.task if not o.startswith("ckpt_path=")]
        overrides = [o for o in hydra_cfg.overrides.hydra if o.startswith("hydra.searchpath=")] + overrides
    except ValueError:
        overrides = []
    command = script_command("predrnn-train")  # the absolute path where the environment is not on PATH
    return " ".join([command, *map(shell_word, overrides), override_text("ckpt_path", str(last))])


def _choice(group: str, default: str) -> str:
    """The option of config `group` this run composed (`default` outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices.get(group) or default
    except ValueError:
        return default


def earlier_runs(cfg: DictConfig) -> list[Path]:
    """The `last.ckpt` files of earlier training runs of this experiment (`ckpt_path=last`)."""
    from hydra.core.hydra_config import HydraConfig

    from predrnn.checkpoints import same_experiment

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


def choose_experiment(args: list[str]) -> tuple[list[str], str | None]:
    """Without an `experiment=` override, the one that fits this machine: the paper's settings
    where a GPU is present, the CPU preset where none is (the paper's 4 × 128 network takes
    minutes per step on a CPU); then the precision of a CPU preset (`choose_precision`) and what
    the entry point chose for OpenMP; returns the arguments and the line that says so (printed
    once the run's config has passed its checks). An explicit experiment is always obeyed, and a
    run on other data (`data=arrays`) or with another network (`model=…`) gets none: the presets
    are PredRNN Moving MNIST benchmarks."""
    from predrnn.cli import entry

    args, preset = _choose_preset(args)
    args, precision = choose_precision(args)
    said = [part for part in (preset, precision, entry.OPENMP_NOTE) if part]
    return args, ("predrnn-train: " + "; ".join(said)) if said else None


def _choose_preset(args: list[str]) -> tuple[list[str], str | None]:
    groups = {a.lstrip("+~").split("=")[0] for a in args}
    if {"experiment", "data", "model"} & groups:
        return args, None
    import torch

    if torch.cuda.is_available():
        choice, why = "paper_mnist", "a GPU is present: the paper's settings"
    else:
        choice, why = (
            "cpu_quick",
            "no GPU: the CPU preset, since the paper's 4 × 128 network takes minutes per step here",
        )
    other = "cpu_quick" if choice == "paper_mnist" else "paper_mnist"
    note = f"experiment={choice} ({why}); choose another with experiment=NAME (make train EXPERIMENT=NAME), e.g. experiment={other}"
    return [*args, f"experiment={choice}"], note


# the experiments that are CPU presets (docs/cpu.md); mnist_budget only where it runs on the CPU
CPU_PRESETS = {"cpu_quick": "always", "mnist_budget": "on a CPU"}
CPU_TRAINERS = ("trainer=cpu", "trainer=ddp_cpu", "trainer.accelerator=cpu")
# Measured (benchmarks/RESULTS.md, "bf16 on the CPU"): on a CPU with native bf16 the side by
# side's recipe in bf16 autocast trained in 0.68× the fp32 time but ended with a 17 % higher
# test MSE (106.7 against 91.2), far outside the 2 % that would keep the quality. So the CPU
# presets stay in fp32 everywhere and say why; bf16 is one override away.
BF16_QUALITY = "0.68× the fp32 time, but 17 % higher test MSE in the CPU side by side (benchmarks/RESULTS.md)"


def choose_precision(args: list[str], gpu: bool | None = None, bf16=None) -> tuple[list[str], str | None]:
    """The precision of a CPU preset run and the words that say which and why: fp32 (the
    config's 32-true), since bf16 autocast did not keep the quality where the CPU computes it
    natively (`BF16_QUALITY`) and is slower where it doesn't. Returns the arguments (unchanged)
    and those words. `speed=…` or `trainer.precision=…` given by the user win (nothing said),
    as does any experiment that is not a CPU preset. `gpu` and `bf16` (a
    `cpu_features.Bf16Support`) stand in for this machine's (tests)."""
    from predrnn.cpu_features import cpu_bf16

    values = {a.lstrip("+~").split("=")[0]: a.split("=", 1)[-1] for a in args}
    experiment = values.get("experiment")
    if experiment not in CPU_PRESETS or {"speed", "trainer.precision"} & values.keys():
        return args, None
    if CPU_PRESETS[experiment] != "always":
        if gpu is None:
            import torch

            gpu = torch.cuda.is_available()
        on_cpu = not gpu or any(a.lstrip("+~") in CPU_TRAINERS for a in args)
        if not on_cpu:
            return args, None
    bf16 = cpu_bf16() if bf16 is None else bf16
    if bf16.native:
        return args, (f"fp32 ({bf16.reason()}, where bf16 autocast took {BF16_QUALITY}); "
                      "trainer.precision=bf16-mixed for its speed")  # fmt: skip
    return args, f"fp32 ({bf16.reason()}); trainer.precision=bf16-mixed to use it anyway"


task = report_errors("predrnn-train")(train)  # the Hydra task, for in-process use


def main() -> None:
    note: list[str | None] = [None]

    def prepare(args: list[str]) -> list[str]:  # after the config's checks, which need no torch
        args, note[0] = choose_experiment(args)
        return args

    def train_with_note(cfg: DictConfig) -> float:
        return train(cfg, preset_note=note[0])

    entry_point("train", "predrnn-train", train_with_note, prepare=prepare)()


if __name__ == "__main__":
    main()
