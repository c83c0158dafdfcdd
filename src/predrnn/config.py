"""Config checks shared by the entry points: early validation with one-line errors naming the
key and the fix, the OmegaConf resolvers the configs use, and checkpoint path resolution."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from predrnn.errors import CheckpointError, ConfigError, PredRNNError

CONF_DIR = Path(__file__).resolve().parent / "conf"


# --- resolvers -------------------------------------------------------------------------------
def wandb_offline() -> bool:
    """Offline unless WANDB_MODE says online or the user is logged in (API key or netrc)."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "dryrun", "disabled"):
        return True
    if mode == "online" or os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path(os.environ.get("NETRC", "~/.netrc")).expanduser()
    try:
        return "api.wandb.ai" not in netrc.read_text()
    except OSError:
        return True


def sweep_group() -> str | None:
    """In a multirun, the sweep folder's name (so a sweep's wandb runs are grouped)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    return Path(hc.sweep.dir).name if hc.mode == RunMode.MULTIRUN else None


def register_resolvers() -> None:
    for name, fn in (("predrnn_wandb_offline", wandb_offline), ("predrnn_sweep_group", sweep_group)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()


# --- early validation ------------------------------------------------------------------------
def check_group_overrides(config_name: str, overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> None:
    """`group=option` overrides naming no config file fail in one line listing the options."""
    for item in overrides:
        key, sep, value = item.lstrip("+~").partition("=")
        group = conf_dir / key
        # hydra/* groups get options from plugins too (joblib, optuna, submitit): Hydra checks those
        if not sep or "." in key or key.startswith("hydra") or not group.is_dir() or value in ("null", ""):
            continue
        options = sorted(p.stem for p in group.glob("*.yaml"))
        for choice in value.strip("[]").split(","):
            if choice and choice not in options:
                raise ConfigError(f"{key}={choice} is unknown: use one of {', '.join(options)}")


def _positive_ints(value: Any) -> bool:
    try:
        items = list(value)
    except TypeError:
        return False
    return bool(items) and all(isinstance(v, int) and v > 0 for v in items)


def validate_train(cfg: DictConfig) -> None:
    """The checks that must fail before any data is read or process started."""
    model, data = cfg.model, cfg.data
    if not _positive_ints(model.hidden_channels):
        widths = model.hidden_channels
        shown = OmegaConf.to_container(widths) if OmegaConf.is_config(widths) else widths
        raise ConfigError(
            f"model.hidden_channels must be a non-empty list of positive ints, got {shown}: "
            "e.g. model.hidden_channels=[64,64]"
        )
    if model.kernel_size <= 0 or model.kernel_size % 2 == 0:
        raise ConfigError(f"model.kernel_size must be a positive odd number, got {model.kernel_size}: e.g. 5")
    if model.patch_size <= 0 or data.image_size % model.patch_size:
        raise ConfigError(
            f"model.patch_size={model.patch_size} must divide data.image_size={data.image_size}: e.g. 4 for 64"
        )
    if data.batch_size <= 0:
        raise ConfigError(f"data.batch_size must be positive, got {data.batch_size}")
    if data.input_length >= data.total_length:
        raise ConfigError(
            f"data.input_length ({data.input_length}) must be less than data.total_length "
            f"({data.total_length}): e.g. 10 and 20"
        )
    if cfg.module.lr <= 0:
        raise ConfigError(f"module.lr must be positive, got {cfg.module.lr}: e.g. module.lr=1e-3")
    if cfg.trainer.max_steps == 0:
        raise ConfigError("trainer.max_steps is 0: give a positive number of steps, or -1 with max_epochs")


def check_launch(cfg: DictConfig) -> None:
    """A local multirun must not use a strategy that relaunches the script (Lightning's `ddp`
    starts `sys.argv` again per rank, which would start the whole sweep again)."""
    if not _in_multirun():
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


def compose(config_name: str, overrides: Sequence[str], output_dir: str | Path) -> DictConfig:
    """The configs composed as an entry point composes them, outside `@hydra.main` (benchmarks,
    tests): the run folder, and so every `${hydra:...}` path, is `output_dir`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(Path(output_dir).parent)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def resolve_checkpoint(path: str | None, log_dir: str | Path) -> str | None:
    """A checkpoint path that exists; `last` means the newest last.ckpt under `log_dir`."""
    if path in (None, ""):
        return None
    if str(path) == "last":
        found = sorted(Path(log_dir).glob("**/checkpoints/last*.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise CheckpointError(f"ckpt_path=last but no last.ckpt under {log_dir}: train first or give a path")
        return str(found[-1].resolve())
    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} not found: fix ckpt_path (a .ckpt file, or `last`)")
    return str(p.resolve())


# --- one-line errors -------------------------------------------------------------------------
def _root_cause(err: BaseException) -> BaseException:
    seen = err
    while seen.__cause__ is not None and type(seen).__name__ == "InstantiationException":
        seen = seen.__cause__
    return seen


def user_error(err: BaseException) -> BaseException | None:
    """The user-fixable error behind `err` (unwrapping Hydra's instantiation wrapper), or None."""
    root = _root_cause(err)
    if isinstance(root, (PredRNNError, ValueError, FileNotFoundError)):
        return root
    return None


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def report_errors(prog: str) -> Callable:
    """Wrap a Hydra task: a user error prints `prog: error: …` and exits 2 (single run) or
    marks the job failed and returns NaN (multirun, so the other jobs go on).
    `HYDRA_FULL_ERROR=1` shows the traceback instead."""

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
        @functools.wraps(task)
        def wrapper(cfg: DictConfig) -> Any:
            try:
                return task(cfg)
            except Exception as err:
                root = user_error(err)
                if root is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                message = f"{prog}: error: {one_line(root)}"
                print(message, file=sys.stderr)
                if _in_multirun():
                    _mark_failed(message)
                    return float("nan")
                sys.exit(2)

        return wrapper

    return decorate


def _in_multirun() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode == RunMode.MULTIRUN
    except (ImportError, ValueError):
        return False


def _mark_failed(message: str) -> None:
    from hydra.core.hydra_config import HydraConfig

    folder = Path(HydraConfig.get().runtime.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "error.txt").write_text(message + "\n")


def entry_point(config_name: str, prog: str, task: Callable[[DictConfig], Any]) -> Callable[[], None]:
    """The console-script `main` of a Hydra task: group overrides pre-checked (one line instead
    of Hydra's multi-line message), user errors reported by `report_errors`."""
    import hydra

    hydra_main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(
        report_errors(prog)(task)
    )

    def main() -> None:
        try:
            check_group_overrides(config_name, [a for a in sys.argv[1:] if not a.startswith("-")])
        except ConfigError as err:
            print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
            sys.exit(2)
        hydra_main()

    return main
