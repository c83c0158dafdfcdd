"""Overrides on a command line, read and written (docs/architecture.md, "Command lines").

Hydra's override grammar gives `,` (a sweep), `=`, brackets, quotes and a few other characters
a meaning, so a path that holds one must be quoted inside the override, and the shell needs its
own quotes around that. `check_syntax` turns an override Hydra can't read, or a sweep given
without `-m`, into one line showing the quoting that works; `override` writes `key=value` the
way a printed command must spell it to give that value back.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from predrnn.errors import ConfigError
from predrnn.launch import Launch

_SPECIAL_IN_DOUBLE_QUOTES = set('"$`\\!')  # what the shell still expands inside double quotes


def _parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def _reads_back(parser, text: str, value: str) -> bool:
    try:
        parsed = parser.parse_override(f"k={text}")
    except Exception:
        return False
    return not parsed.is_sweep_override() and parsed.value() == value


def hydra_value(value: Any) -> str:
    """`value` as Hydra's grammar must spell it to read it back: strings as they are where that
    works, quoted where they hold `,`, `=`, brackets, quotes, `#`, `~`, non-ASCII letters or
    would read as a number, bool or null; lists as `[a,b]`."""
    if isinstance(value, (list, tuple)):
        return f"[{','.join(hydra_value(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)
    parser = _parser()
    if value and _reads_back(parser, value, value):
        return value
    for quote in ("'", '"'):
        text = quote + value.replace(quote, "\\" + quote) + quote
        if _reads_back(parser, text, value):
            return text
    return value  # not representable: left as it is


def shell_word(token: str) -> str:
    """`token` as one shell word: as it is when the shell leaves it alone, else in double quotes
    (which keep Hydra's single quotes visible), else in shlex's quoting."""
    if shlex.quote(token) == token:
        return token
    if not _SPECIAL_IN_DOUBLE_QUOTES & set(token):
        return f'"{token}"'
    return shlex.quote(token)


def override_text(key: str, value: Any) -> str:
    """`key=value` for a printed command: it reads back as `value` through the shell and Hydra."""
    return shell_word(f"{key}={hydra_value(value)}")


def data_arguments(overrides: Mapping[str, Any]) -> str:
    """A data module's overrides (`command_overrides()`: key -> value) as words of a printed
    command, each after a space ("" for none)."""
    return "".join(f" {override_text(key, value)}" for key, value in overrides.items())


def check_syntax(args: Sequence[str]) -> None:
    """Every override in `args` can be read by Hydra, and none is a sweep unless `-m` asks for
    one; else a ConfigError naming the override and the quoting that works."""
    from hydra.errors import HydraException

    multirun = any(a in ("-m", "--multirun") for a in args)
    parser = _parser()
    for arg in args:
        if arg.startswith("-") or ("=" not in arg and not arg.startswith("~")):
            continue  # Hydra's flags and their values (--cfg job, -cn NAME): Hydra reads those
        key, sep, value = arg.partition("=")
        quoted = override_text(key, value) if sep else arg
        try:
            parsed = parser.parse_override(arg)
        except HydraException as err:
            reason = " ".join(str(err).split()).split(" See https://")[0]
            raise ConfigError(
                f"{shlex.quote(arg)} is not an override Hydra can read ({reason}): a value holding = , [ ] # ~ or "
                f"quotes must be quoted, e.g. {quoted}"
            ) from None
        if parsed.is_sweep_override() and not multirun:
            raise ConfigError(
                f"{shlex.quote(arg)} is a sweep of several values (Hydra reads ',' that way): for one value "
                f"holding a comma quote it, e.g. {quoted}; for a list write {key}=[...]; to sweep, add -m"
            )


def _eval_config(metrics_choice: str):
    """The config `predrnn-eval metrics=<choice>` composes (within a running Hydra app, or alone)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from predrnn.config_groups import CONF_DIR

    overrides = [f"metrics={metrics_choice}"]
    if GlobalHydra.instance().is_initialized():
        return compose("eval", overrides=overrides)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("eval", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def evaluation_overrides(cfg, metrics_choice: str = "default") -> list[str]:
    """The overrides that make `predrnn-eval` score what the run `cfg` scored: its metrics
    group, each metric added, removed or changed against that group, its baselines and its
    precision."""
    from omegaconf import OmegaConf

    reference = _eval_config(metrics_choice)
    args = [] if metrics_choice == "default" else [override_text("metrics", metrics_choice)]
    theirs = OmegaConf.to_container(reference.metrics, resolve=True) or {}
    ours = OmegaConf.to_container(cfg.metrics, resolve=True) if cfg.get("metrics") is not None else {}
    for name in theirs:
        if ours.get(name) is None and theirs[name] is not None:
            args.append(shell_word(f"~metrics.{name}"))
    for name, config in ours.items():
        if config is None:
            continue
        given = theirs.get(name) or {}
        for key, value in config.items():
            if key not in given:
                args.append(override_text(f"+metrics.{name}.{key}", value))
            elif given[key] != value:
                args.append(override_text(f"metrics.{name}.{key}", value))
        args.extend(shell_word(f"~metrics.{name}.{key}") for key in given if key not in config)
    baselines = list(cfg.get("baselines") or [])
    if baselines != list(reference.get("baselines") or []):
        args.append(override_text("baselines", baselines))
    precision = cfg.get("trainer", {}).get("precision")
    if precision is not None and str(precision) != str(reference.trainer.get("precision")):  # bf16 scores differ
        args.append(override_text("trainer.precision", precision))
    return args


def script_command(prog: str) -> str:
    """A console script (`predrnn-eval`, …) as the user's shell can run it: its name where PATH
    finds this environment's script, else the script's absolute path (the environment is not
    activated: `make train` runs `.venv/bin/predrnn-train`), so a printed command runs as printed."""
    import shutil
    import sys
    from pathlib import Path

    local = Path(sys.executable).parent / prog
    if not local.is_file():
        return prog
    found = shutil.which(prog)
    if found is not None and Path(found).resolve() == local.resolve():
        return prog
    return shell_word(str(local))


def network_overrides(launch: Launch) -> list[str]:
    """What a printed eval / predict / export command needs to read a checkpoint of the user's
    own network again (docs/extending.md, "Your own network"): the run's `hydra.searchpath` and its
    `model=` choice (a `model._target_=` override too), from the `launch` the entry point read;
    nothing for predrnn's own networks."""
    given = [*launch.hydra, *launch.task]
    searchpath = [o for o in given if o.lstrip("+").startswith("hydra.searchpath=")]
    model = [o for o in launch.task if o.lstrip("+~").split("=")[0] in ("model", "model._target_")]
    if not searchpath and not any(o.lstrip("+").startswith("model._target_=") for o in model):
        return []
    return [shell_word(o) for o in (*searchpath, *model)]
