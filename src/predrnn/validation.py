"""Checks that span several config keys (a single key is checked by the constructor that owns
it), run before anything is instantiated or written. What Hydra says about the launch (a sweep?
its launcher?) comes in as a `Launch` from the entry point. The one estimate that needs the
network built, `build.check_fits_memory`, lives beside `build_network`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from predrnn import checks
from predrnn.errors import BadValue, ConfigError
from predrnn.launch import Launch
from predrnn.threads import available_cpus


def search_path(overrides: Sequence[str]) -> list[Path]:
    """The config folders a `hydra.searchpath=[file:///…]` override adds (the user's own)."""
    folders: list[Path] = []
    for item in overrides:
        key, _, value = item.lstrip("+").partition("=")
        if key == "hydra.searchpath":
            for entry in value.strip("[]").split(","):
                entry = entry.strip().strip("'\"")
                if entry.startswith("file://"):
                    folders.append(Path(entry.removeprefix("file://")))
    return folders


def check_group_overrides(overrides: Sequence[str], conf_dir: Path) -> None:
    """`group=option` overrides naming no config file fail in one line listing the options (of
    predrnn's configs and of the folders `hydra.searchpath` adds)."""
    folders = [conf_dir, *search_path(overrides)]
    for item in overrides:
        key, sep, value = item.lstrip("+~").partition("=")
        groups = [folder / key for folder in folders if (folder / key).is_dir()]
        # hydra/* groups get options from plugins too (joblib, optuna, submitit): Hydra checks those
        if not sep or "." in key or key.startswith("hydra") or not groups or value in ("null", ""):
            continue
        options = sorted({p.stem for group in groups for p in group.glob("*.yaml")})
        for choice in value.strip("[]").split(","):
            if choice and choice not in options:
                raise ConfigError(f"{key}={choice} is unknown: use one of {', '.join(options)}")


def on_cpu(trainer) -> bool:
    """Whether `trainer` (its config) trains on the CPU: `accelerator=cpu`, or `auto` without a GPU."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator == "cpu":
        return True
    if accelerator != "auto":
        return False
    import torch

    return not torch.cuda.is_available()


def validate_train(cfg: DictConfig, launch: Launch) -> None:
    """The checks that must fail before any data is read or process started."""
    seed = checks.integer("seed", cfg.get("seed"), 42, minimum=0)
    if seed > 2**32 - 1:  # what numpy's generators accept
        raise BadValue("seed", seed, f"must be at most {2**32 - 1}", 42)
    trainer = cfg.trainer
    if trainer.get("max_steps") == 0:
        raise ConfigError("trainer.max_steps=0 trains nothing: give a positive number of steps (or -1 with max_epochs)")
    devices = trainer.get("devices", 1)
    if on_cpu(trainer) and isinstance(devices, int) and devices > available_cpus():
        raise ConfigError(
            f"trainer.devices={devices} CPU processes on {available_cpus()} CPUs would share cores: "
            f"use trainer.devices={available_cpus()} or fewer"
        )
    end = cfg.get("sampling", {}).get("end")
    if end is not None and not (isinstance(trainer.get("max_steps"), int) and trainer.max_steps > 0):
        raise ConfigError(
            f"sampling.end={end} is a fraction of trainer.max_steps, which is {trainer.get('max_steps')}: "
            "set trainer.max_steps to the run's length, or give the curve in steps (sampling.end=null)"
        )
    fp32_start = (cfg.get("callbacks") or {}).get("fp32_start") or {}
    fraction = fp32_start.get("fraction")
    if fraction and not (isinstance(trainer.get("max_steps"), int) and trainer.max_steps > 0):
        raise ConfigError(
            f"callbacks.fp32_start.fraction={fraction} is a fraction of trainer.max_steps, which is "
            f"{trainer.get('max_steps')}: set trainer.max_steps to the run's length, or callbacks.fp32_start=null"
        )
    if fraction and cfg.module.get("cuda_graph"):
        raise ConfigError(
            f"callbacks.fp32_start.fraction={fraction} can't combine with module.cuda_graph=true (the graphed step "
            "keeps the precision of its first step): set callbacks.fp32_start=null or module.cuda_graph=false"
        )
    clip = trainer.get("gradient_clip_val")
    if clip and cfg.module.get("cuda_graph"):
        raise ConfigError(
            f"trainer.gradient_clip_val={clip} can't combine with module.cuda_graph=true (the graphed step makes "
            "its own optimiser step): set trainer.gradient_clip_val=null or module.cuda_graph=false"
        )
    check_launch(cfg, launch)


def check_launch(cfg: DictConfig, launch: Launch) -> None:
    """A local multirun must not use a strategy that relaunches the script (Lightning's `ddp`
    starts `sys.argv` again per rank, which would start the whole sweep again)."""
    if not launch.multirun:
        return
    trainer = cfg.trainer
    strategy = str(trainer.get("strategy", "auto"))
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    several = nodes > 1 or devices in ("auto", -1) or (isinstance(devices, int) and devices > 1)
    if not several or "spawn" in strategy or strategy in ("auto", "single_device"):
        return
    from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if SLURMEnvironment.detect() or TorchElasticEnvironment.detect():
        return  # the cluster started one process per rank: nothing is relaunched
    raise ConfigError(
        f"trainer.strategy={strategy} with several devices relaunches the script, which would restart "
        "the whole sweep: run DDP sweeps with hydra/launcher=slurm (one task per GPU), or single runs"
    )


def processes_per_machine(cfg: DictConfig, launch: Launch) -> int:
    """How many training processes this run starts on this machine at once: DDP ranks on the
    CPU times the jobs a joblib launcher runs side by side."""
    trainer = cfg.trainer
    devices = trainer.get("devices", 1)
    ranks = devices if on_cpu(trainer) and isinstance(devices, int) and devices > 0 else 1
    jobs = 1
    if launch.multirun:
        launcher = launch.launcher
        n_jobs = launcher.get("n_jobs") if "joblib" in str(launcher.get("_target_", "")).lower() else None
        if isinstance(n_jobs, int) and n_jobs > 0:
            jobs = n_jobs
        elif n_jobs == -1:
            jobs = available_cpus()
    return max(1, ranks * jobs)


def check_against_data(cfg: DictConfig, datamodule) -> None:
    """Config keys checked against what the data turned out to be (known once it is opened):
    a callback's `channel` must be one of the data's channels."""
    from predrnn.errors import BadValue

    for name, c in cfg.callbacks.items():
        if c is not None and c.get("channel") is not None and c.channel >= datamodule.channels:
            raise BadValue(
                "channel", c.channel, f"must be below the data's {datamodule.channels} channels", 0
            ).in_group(f"callbacks.{name}")
