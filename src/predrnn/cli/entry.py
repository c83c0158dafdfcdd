"""What every console script shares: one line and exit code 2 for an error the user can fix,
no empty run folder left behind by a run that failed before it started, a console without
third-party noise (`verbose=true` shows it), Ctrl-C / SIGTERM as exit 130 / 143 with one line,
and the Hydra main.

`HYDRA_FULL_ERROR=1` shows the traceback instead."""

from __future__ import annotations

import errno
import functools
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from predrnn.cli.hydra_state import in_multirun
from predrnn.command_line import check_syntax
from predrnn.config_groups import CONF_DIR
from predrnn.errors import ConfigError, OutputError, PredRNNError
from predrnn.extras import check_hydra_plugins
from predrnn.files import check_run_folder, hold_signal, not_writable
from predrnn.training.noise import quiet_unless_verbose
from predrnn.training.signals import STOP_SIGNALS, Stopped
from predrnn.validation import check_group_overrides


def one_line(err: BaseException) -> str:
    text = str(err)
    if "\nOriginal Traceback" in text:  # raised in a DataLoader worker: torch put the worker's traceback first
        text = text.strip().splitlines()[-1].split(": ", 1)[-1]
    return " ".join(text.split())


def user_error(err: BaseException) -> BaseException | None:
    """The user-fixable error behind `err` (unwrapping Hydra's instantiation wrapper), or None."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    root = err
    while root.__cause__ is not None and type(root).__name__ == "InstantiationException":
        root = root.__cause__
    if isinstance(root, (PredRNNError, ValueError, FileNotFoundError, MisconfigurationException)):
        return root
    missing = next((e for e in _chain(err) if type(e).__name__ == "MissingMandatoryValue"), None)
    if missing is not None:  # a `???` key read in a job (sweeps; single runs: _precompose says it first)
        return ConfigError(missing_value_line(str(getattr(missing, "full_key", "") or "?"), ""))
    full = next((e for e in _chain(err) if isinstance(e, OSError) and e.errno in _DISK_FULL), None)
    if full is not None:  # a full disk (a sweep's later jobs, a long run): one line, not a traceback
        where = f" writing {full.filename}" if full.filename else ""
        return OutputError(f"the disk is full ({full.strerror or full}{where}): free space, or set paths.log_dir=DIR "
                           "(or PREDRNN_ROOT=DIR) to a folder on another disk")  # fmt: skip
    return None


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _stop(signum: int, frame) -> None:
    """Ctrl-C / SIGTERM outside training: `Stopped`, unless predrnn.files is moving names, which
    raises it again once they are in order (`hold_signal`)."""
    if hold_signal(signum):
        return
    raise Stopped(signum)


def _drop_empty_run_folder(folder: Path) -> None:
    """Remove a run folder that holds nothing but Hydra's own files (config, log)."""
    if not folder.is_dir():
        return
    own = {".hydra"} | {p.name for p in folder.glob("*.log")}
    if {p.name for p in folder.iterdir()} <= own:
        shutil.rmtree(folder, ignore_errors=True)


def report_errors(prog: str) -> Callable:
    """Wrap a Hydra task: a user error prints `prog: error: …` and exits 2 (single run; the run
    folder goes if nothing but Hydra's files is in it) or marks the job failed and returns NaN
    (multirun, so the other jobs go on)."""

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
        @functools.wraps(task)
        def wrapper(cfg: DictConfig) -> Any:
            quiet_unless_verbose(bool(cfg.get("verbose")))
            scrub_run_files(cfg)
            overwrite = cfg.get("overwrite") is True
            try:
                if (folder := _output_dir()) is not None:  # a sweep's job folder too (_precompose: single runs)
                    check_run_folder(folder, overwrite, "hydra.sweep.dir" if in_multirun() else "hydra.run.dir")
                    if overwrite and in_multirun():
                        (folder / "error.txt").unlink(missing_ok=True)  # an earlier failure of this job
                return task(cfg)
            except Exception as err:
                root = user_error(err)
                if root is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                message = f"{prog}: error: {one_line(root)}"
                print(message, file=sys.stderr)
                folder = _output_dir()
                if in_multirun():
                    if folder is not None and not (folder / "error.txt").exists():  # never a file of the user's
                        try:
                            folder.mkdir(parents=True, exist_ok=True)
                            (folder / "error.txt").write_text(message + "\n")
                        except OSError:  # a full disk: the line above is the record
                            pass
                    return float("nan")
                if folder is not None:
                    _drop_empty_run_folder(folder)
                sys.exit(2)

        return wrapper

    return decorate


def scrub_run_files(cfg: DictConfig) -> None:
    """Hydra has written the run's config and overrides (`.hydra/*.yaml`, a sweep's
    `multirun.yaml`) before the task starts: the secrets of `data.storage_options` and the
    passwords of URLs given as `data.path` / `input` are replaced by REDACTED there (a word that
    keeps the YAML valid), so no credential stays in a run folder (docs/data.md, "Remote stores")."""
    from omegaconf import OmegaConf

    from predrnn.data.remote import scrub

    data = cfg.get("data")
    options = data.get("storage_options") if data is not None else None
    secrets = {
        "options": OmegaConf.to_container(options) if options is not None else None,
        "urls": [str(OmegaConf.select(cfg, key, default="")) for key in ("data.path", "input")],
    }
    folder = _output_dir()
    if folder is None:
        return
    for path in [*(folder / ".hydra").glob("*.yaml"), folder.parent / "multirun.yaml"]:
        if path.is_file() and (text := path.read_text()) != (clean := scrub(text, secrets, "REDACTED")):
            path.write_text(clean)


def _output_dir() -> Path | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except (ImportError, ValueError):
        return None


def _precompose(config_name: str, args: list[str]) -> None:
    """Compose once before Hydra does, so that a bad override (unknown key, bad syntax) is one
    line instead of Hydra's message, and its run folder can be made. Sweeps (-m) are left to Hydra."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = [a for a in args if not a.startswith("-")]
    if len(overrides) != len(args):
        return
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
            run_dir = str(cfg.hydra.run.dir)
            overwrite = cfg.get("overwrite") is True
            missing = [k for k in _missing_keys(cfg) if not k.startswith("hydra.")]
    except Exception as err:  # Hydra's own errors: ConfigCompositionException, OverrideParseException, …
        message = one_line(err).split(" Set the environment variable")[0]
        if "multirun" in message.lower() or "sweep" in message.lower():
            return
        if message.startswith("Could not override '"):
            key = message.split("'")[1]
            message = f"{key} is not a key of this config: check its spelling (--cfg job lists the keys)"
        raise PredRNNError(message) from None
    finally:
        GlobalHydra.instance().clear()
    if missing:  # a `???` value nobody gave: one line naming it, not OmegaConf's traceback in the task
        raise ConfigError(missing_value_line(missing[0], config_name))
    try:
        blocked = not_writable(run_dir)
        if blocked is not None:  # Hydra would fail to make the run folder with a traceback
            raise OutputError(
                f"the run folder {run_dir} can't be made: nothing can be written in {blocked} (read-only): "
                "set paths.log_dir=DIR (or PREDRNN_ROOT=DIR) to a writable folder"
            )
        check_run_folder(run_dir, overwrite)  # before Hydra writes its files into it
    except OSError as err:
        if err.errno != errno.ENAMETOOLONG:
            raise
        shown = run_dir if len(run_dir) <= 80 else f"{run_dir[:40]}…{run_dir[-30:]}"
        raise OutputError(
            f"the run folder's path is longer than this system allows ({len(run_dir)} characters: {shown}): "
            "set PREDRNN_ROOT=DIR (or paths.log_dir=DIR) to a shorter folder"
        ) from None


# an example value of each mandatory (`???`) key, per entry point's config
MANDATORY_EXAMPLES = {
    "ckpt_path": {"convert": "official.ckpt", "": "last"},
    "output": {"export": "model.onnx", "convert": "native.ckpt", "": "predictions.npy"},
    "input": {"": "clips.npy"},
}
PROGS = {"train": "predrnn-train", "eval": "predrnn-eval", "predict": "predrnn-predict", "export": "predrnn-export",
         "convert": "predrnn-convert"}  # fmt: skip


def missing_value_line(key: str, config_name: str) -> str:
    """The one line for a mandatory value (`???` in conf/<config_name>.yaml) that was not given."""
    examples = MANDATORY_EXAMPLES.get(key, {})
    value = examples.get(config_name, examples.get("", "VALUE"))
    prog = PROGS.get(config_name)
    example = f"{prog} {key}={value}" if prog else f"{key}={value}"
    return f"{key} is required and was not given: add {key}=…, e.g. {example}"


def _missing_keys(cfg, prefix: str = "") -> list[str]:
    """The keys whose value is `???`, read without resolving anything (Hydra's own config holds
    interpolations that only resolve inside a run)."""
    from omegaconf import DictConfig, OmegaConf

    found = []
    for key in cfg:
        if OmegaConf.is_missing(cfg, key):
            found.append(f"{prefix}{key}")
            continue
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_none() and not node._is_interpolation():
            found += _missing_keys(node, f"{prefix}{key}.")
    return found


# what the entry point chose for OpenMP where it differs from torch's default (a train run's
# first line says it), or None
OPENMP_NOTE: str | None = None


def entry_point(
    config_name: str,
    prog: str,
    task: Callable[[DictConfig], Any],
    prepare: Callable[[list[str]], list[str]] | None = None,
) -> Callable[[], None]:
    """The console-script `main` of a Hydra task: `--version` and `--help` answered by predrnn
    (predrnn/cli/help.py), overrides pre-checked (one line instead of Hydra's multi-line
    message, before torch and Lightning are imported), then `prepare(args)` (train: the preset
    that fits the machine), user errors reported by `report_errors`."""
    import hydra

    hydra_main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(
        report_errors(prog)(task)
    )

    def main() -> None:
        from predrnn.cli import help as cli_help
        from predrnn.threads import openmp_policy

        args = sys.argv[1:]
        if "--version" in args or "-V" in args:
            print(cli_help.version_line(prog))
            sys.exit(0)
        # before torch starts its OpenMP runtime: as many threads as the idle CPUs
        # (predrnn/threads.py; the user's OMP_NUM_THREADS wins)
        global OPENMP_NOTE
        OPENMP_NOTE = openmp_policy()
        asks_help = "--help" in args or "-h" in args
        if os.environ.get("HYDRA_FULL_ERROR") != "1" or asks_help:
            try:
                check_syntax(args)
                check_group_overrides([a for a in args if not a.startswith("-")], CONF_DIR)
                check_hydra_plugins(config_name, args, str(CONF_DIR))  # a launcher / sweeper's extra
                if not asks_help:
                    _precompose(config_name, args)
            except PredRNNError as err:
                print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
                sys.exit(2)
        if prepare is not None:
            args = prepare(args)
        if asks_help:
            print(cli_help.help_text(config_name, prog, [a for a in args if a not in ("--help", "-h")]))
            sys.exit(0)
        sys.argv[1:] = cli_help.overrides_first(args)  # `--info` takes an optional value: no override after it
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                signal.signal(signum, _stop)
        try:
            hydra_main()
        except Stopped as stop:
            print(f"{prog}: {stop} received: stopped before finishing; {stop.not_written}", file=sys.stderr)
            sys.exit(128 + stop.signum)

    return main
