"""Do this data, these overrides and this checkpoint belong together? Answered here, once, for
every command that reads a checkpoint (docs/checkpoints.md): `predrnn-eval`, `-predict`,
`-export`, `-convert` and a resumed or fine-tuned `predrnn-train`. Each check raises the one-line
error (exit code 2) that names what differs and how to give what fits; the callers apply what
was decided (a data module's `adopt()` takes the network's observed length and units, a resume
loads the weights).

- the command line against a checkpoint: `refuse_model_overrides`, `adopt_the_runs_settings`
  (eval scores what the run scored unless told otherwise);
- a checkpoint against itself: `check_input_length`;
- data against a checkpoint: `check_data` (a data module's `served_frames()`), `check_variables`,
  `check_kind_of_values`, and for predict's input `check_input_frames`, `check_input_actions`,
  `check_input_units`;
- a training run against the checkpoint it starts from: `check_same_network`,
  `normalization_change`, `check_resume_data`, `optimiser_settings_dropped`;
- weights against the module they are loaded into: `check_weights_fit`.

Nothing here reads Hydra's global state: the command line's overrides come in as a `Launch`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from predrnn.errors import CheckpointError, DataError
from predrnn.launch import Launch

# --- the command line against a checkpoint ------------------------------------------------------


def refuse_model_overrides(path: str, stored: str | None, user_target: str | None, overrides: Sequence[str],
                           key: str = "ckpt_path") -> None:  # fmt: skip
    """A predrnn checkpoint decides its network: model.* overrides would do nothing, and a
    `model=` choice must name the network it holds (`stored`; `user_target` is the config's)."""
    for override in overrides:
        name = override.lstrip("+~").split("=")[0]
        if name.startswith("model."):
            raise CheckpointError(
                f"{override} does nothing: {key}={path} carries its network's settings; remove the override"
            )
        if name == "model" and user_target != stored:
            raise CheckpointError(
                f"{key}={path} holds the network {stored}, not {user_target} ({override}): remove {override}"
            )


# what `predrnn-eval` takes from the training run of the checkpoint unless the command sets it
# (`make eval`, `predrnn-eval ckpt_path=last`: the run's own test set, metrics and baselines)
FROM_THE_RUN = ("data", "metrics", "baselines")


def run_settings(ckpt: Path) -> tuple[DictConfig, Path] | None:
    """The composed config of the training run that wrote `ckpt` (<run>/checkpoints/x.ckpt),
    resolved, and the folder it ran from; None for a checkpoint outside a run folder."""
    from omegaconf import OmegaConf

    run = ckpt.resolve().parent.parent
    config, hydra = run / ".hydra" / "config.yaml", run / ".hydra" / "hydra.yaml"
    if ckpt.resolve().parent.name != "checkpoints" or not config.is_file():
        return None
    try:
        cfg = OmegaConf.load(config)
        cwd = Path(str(OmegaConf.load(hydra).hydra.runtime.cwd)) if hydra.is_file() else run
        settings = OmegaConf.create({k: OmegaConf.to_container(cfg, resolve=True)[k] for k in FROM_THE_RUN if k in cfg})
    except Exception:  # a config that doesn't resolve outside its run: nothing adopted
        return None
    return settings, cwd


def _absolute(value, cwd: Path):
    """A relative path of the run's data (as it ran, from `cwd`) made absolute; others as they are."""
    relative = isinstance(value, str) and value and "://" not in value and not Path(value).is_absolute()
    if relative and (cwd / value).exists():
        return str(cwd / value)
    return value


def adopt_the_runs_settings(cfg: DictConfig, ckpt: Path, launch: Launch) -> str | None:
    """`predrnn-eval` of a training run's checkpoint scores what the run scored unless told
    otherwise: the run's data settings (its test set: size, generator, file or split), metrics
    and baselines, where the command (`launch`) gives none of that group (`data.*=…` chooses
    another test set); composed outside an entry point (tests), nothing is adopted. Returns the
    line that says so, or None."""
    from omegaconf import open_dict

    found = run_settings(ckpt)
    if found is None:
        return None
    settings, cwd = found

    def given(group: str) -> bool:
        return not launch.in_hydra or launch.given(group)

    # a metric set chosen on the command line (metrics=nowcast) brings the baselines it is
    # scored beside, so the run's baselines are not taken then either
    taken = [g for g in FROM_THE_RUN if g in settings and not given(g)
             and not (g == "baselines" and given("metrics"))]  # fmt: skip
    if not taken:
        return None
    with open_dict(cfg):
        for group in taken:
            value = settings[group]
            if group == "data":
                value = {k: _absolute(v, cwd) for k, v in value.items()}
            cfg[group] = value
    run = ckpt.resolve().parent.parent
    return (
        f"the {', '.join(taken)} settings of its training run ({run / '.hydra' / 'config.yaml'}): the run's own "
        f"test set{' of ' + str(cfg.data.get('test_size')) + ' sequences' if cfg.data.get('test_size') else ''}; "
        "data.…=… on the command line chooses another"
    )


# --- a checkpoint against itself ----------------------------------------------------------------


def check_input_length(state: Mapping, network, path: str, key: str = "ckpt_path") -> None:
    """A predrnn checkpoint stores its data's input_length beside its network's: two that differ
    would observe one number of frames and predict from another without a word."""
    saved = state.get("datamodule_hyper_parameters")
    stored = saved.get("input_length") if isinstance(saved, Mapping) else None
    runs = getattr(network, "input_length", None)
    if stored is not None and runs is not None and stored != runs:
        raise CheckpointError(
            f"{key}={path} is inconsistent: its data's input_length={stored}, its network's input_length={runs}; "
            "it was not written by predrnn-train or predrnn-convert: use another checkpoint"
        )


# --- data against a checkpoint ------------------------------------------------------------------


@dataclass(frozen=True)
class ServedFrames:
    """What a data module serves, in the terms `check_data` compares with a trained network (a
    data module's `served_frames()`): plain facts and how a message names them."""

    shape: tuple[int, int, int] | None  # (C, H, W); None: rendered at any size (a generator)
    named: str  # the frames in a message, with `{shape}` for "HxWxC": "data.path=x.npy frames are {shape}"
    fix: str  # what to give instead: "give data of that shape"
    rendered: str | None = None  # a generator's limits, where shape is None: "Moving MNIST is square and grey"
    where: str = ""  # the data in a message about its actions: "data.path=x.npy"
    actions_key: str | None = None  # the key naming the actions, where the data module reads actions
    action_channels: int | None = None  # values per frame of those actions (None: none)
    reads_actions: bool = False  # whether the data module can serve actions at all
    no_actions: str | None = None  # where it can't, why and what to use: "Moving MNIST has none: …"
    smallest: tuple[int, str] | None = None  # a generator's smallest frame height, and what it is


def _shape(c: int, h: int, w: int) -> str:
    return f"{h}x{w}x{c}"


def check_data(served: ServedFrames, network) -> None:
    """The frames (and actions) a data module serves can be scored by `network`: its frame shape,
    and the actions it reads."""
    c, (h, w) = network.in_channels, tuple(network.image_size)
    if served.shape is None:
        if served.rendered is not None and (c != 1 or h != w):
            raise DataError(
                f"the model takes {h}x{w}x{c} frames; {served.rendered}: evaluate it with data=arrays on data of its shape"
            )
        if served.no_actions is not None and "actions" in getattr(network, "conditioning", ()):
            raise DataError(f"the model reads actions, {served.no_actions}")
        if served.smallest is not None and h < served.smallest[0]:
            raise DataError(f"the model takes {h}x{w} frames, smaller than {served.smallest[1]}")
    elif tuple(served.shape) != (c, h, w):
        named = served.named.replace("{shape}", _shape(*served.shape))
        raise DataError(f"{named}, the model was trained on {_shape(c, h, w)}: {served.fix}")
    if served.reads_actions and "actions" in getattr(network, "conditioning", ()):
        need = getattr(network, "action_channels", None)
        if served.action_channels is None:
            raise DataError(
                f"the model reads actions ({need} values per frame), {served.where} has none: "
                "name them with data.actions_key=NAME"
            )
        if need is not None and need != served.action_channels:
            raise DataError(
                f"data.actions_key={served.actions_key} gives {served.action_channels} values per frame, the "
                f"model was trained on {need}: give the actions it was trained with"
            )


def check_variables(datamodule, trained: Mapping | None, ckpt: str) -> None:
    """A checkpoint trained on other variables than the data's (t2m for a model of reflectivity)
    would be scored in the wrong units: refused in one line naming both."""
    from predrnn.data.series_input import check_same_variables

    describe = getattr(datamodule, "description", None)
    given = describe() if callable(describe) else None
    if not trained or not given or trained.get("variables") is None or given.get("variables") is None:
        return
    where = f"data.path={given.get('path') or datamodule.hparams.get('path')}"
    check_same_variables(list(trained["variables"]), list(given["variables"]), f"ckpt_path={ckpt}", where)


def check_kind_of_values(datamodule, normalization, ckpt: str) -> None:
    """uint8 data for a model trained on float data (or the reverse) would be scored in the
    wrong units (a uint8 copy of float dBZ reads as [0, 1]): refused in one line naming the data
    arguments the checkpoint was trained with (its run's config), where they are known."""
    data_uint8 = getattr(datamodule, "uint8", None)
    if data_uint8 is None or bool(data_uint8) == normalization.uint8:
        return
    have, trained = ("uint8", "float") if data_uint8 else ("float", "uint8")
    data_args = trained_data_arguments(Path(ckpt))
    fix = (
        f"give the data it was trained with: {data_args}"
        if data_args
        else f"give the data it was trained with ({trained} frames: data=arrays data.path=… for your own data)"
    )
    raise DataError(
        f"ckpt_path={ckpt} was trained on other data ({trained} frames; these are {have} frames, "
        f"so its units would not match): {fix}"
    )


def trained_data_arguments(ckpt: Path) -> str | None:
    """The data overrides of the training run that wrote `ckpt` (`data=arrays data.path=…`), or None."""
    from omegaconf import OmegaConf

    from predrnn.command_line import override_text, shell_word

    run = ckpt.resolve().parent.parent
    overrides = run / ".hydra" / "overrides.yaml"
    if ckpt.resolve().parent.name != "checkpoints" or not overrides.is_file():
        return None
    try:
        given = [str(o) for o in OmegaConf.load(overrides)]
    except Exception:
        return None
    data = [o for o in given if o.lstrip("+~").split("=")[0].split(".")[0] == "data"]
    if not data:
        return None
    cwd = run_settings(ckpt)
    words = []
    for item in data:
        key, sep, value = item.partition("=")
        absolute = _absolute(value, cwd[1]) if cwd is not None else value
        words.append(override_text(key, absolute) if sep and absolute != value else shell_word(item))
    return " ".join(words)


def check_input_frames(where: str, have: tuple[int, int, int], network, fix: str) -> None:
    """predict's input frames (C, H, W) have the shape `network` was trained on."""
    c, h, w = have
    want = (network.in_channels, *network.image_size)
    if (c, h, w) != want:
        raise DataError(
            f"{where} frames are {h}x{w}x{c}, the model was trained on {want[1]}x{want[2]}x{want[0]} "
            f"(height x width x channels): {fix}"
        )


def check_input_actions(where: str, actions_key: str | None, given: int | None, network) -> None:
    """predict's input has the actions a network that reads them was trained on."""
    need = getattr(network, "action_channels", None)
    if need is not None and given != need:
        raise DataError(
            f"data.actions_key={actions_key} of {where} gives {given} values per frame, "
            f"the model was trained on {need}: give actions of that length"
        )


def check_input_units(where: str, frames: np.ndarray, normalization, *, series: bool = False) -> None:
    """predict's input is in the units the model was trained on: uint8 frames for a model of
    float data are refused (uint8 reads as x / 255), float frames outside [0, 1] for a model of
    uint8 data too (`series`: NaN-aware, a CF series, whose values are always float)."""
    if series:
        low, high = np.nanmin(frames), np.nanmax(frames)
        if normalization.uint8 and (low < 0 or high > 1):
            raise DataError(
                f"{where} holds values in [{low:.3g}, {high:.3g}], the model was trained on uint8 frames: give values "
                "in [0, 1]"
            )
        return
    if frames.dtype == np.uint8 and not normalization.uint8:
        raise DataError(
            f"{where} holds uint8 frames, the model was trained on float frames (their units, "
            f"{normalization.low.min().item():.4g} to {normalization.high.max().item():.4g}): give them as float in "
            "those units, e.g. frames.astype(np.float32)"
        )
    values = frames.astype(np.float32) if frames.dtype != np.uint8 else None  # as the rollout reads them
    if values is not None and normalization.uint8 and (values.min() < 0 or values.max() > 1):
        raise DataError(
            f"{where} holds {frames.dtype} values in [{values.min():.3g}, {values.max():.3g}], the model was "
            "trained on uint8 frames: give uint8 0-255 or float frames in [0, 1]"
        )


# --- a training run against the checkpoint it starts from ---------------------------------------


def check_same_network(ckpt_path: str, trained: Mapping[str, Any], module) -> None:
    """A predrnn checkpoint resumed or fine-tuned by a run whose model config builds another
    network (its `_target_` and arguments, `trained`): one line naming the first differences."""
    current = {"_target_": module.hparams["network"]["_target_"], **module.network.init_args}
    diff = [f"model.{k}={trained.get(k)} (config: {v})" for k, v in current.items() if trained.get(k) != v]
    if diff:
        raise CheckpointError(
            f"ckpt_path={ckpt_path} was trained with {', '.join(diff[:3])}{' …' if len(diff) > 3 else ''}: "
            "give the model/data overrides it was trained with, or another checkpoint"
        )


def normalization_change(saved: dict | None, current: dict) -> str | None:
    """What differs between a checkpoint's normalisation (`saved`) and the one this run's data
    gives (`current`), as "<saved>, this data gives <current>"; None when they agree (or the
    checkpoint predates stored normalisations)."""
    if not saved:
        return None
    numbers = ("shift", "scale", "low", "high")
    same = saved.get("kind") == current["kind"] and bool(saved.get("uint8", True)) == current["uint8"]
    same = same and all(
        len(saved.get(k, ())) == len(current[k]) and np.allclose(saved[k], current[k], rtol=1e-6, atol=0)
        for k in numbers
    )
    if same:
        return None

    def text(n: dict) -> str:
        values = ", ".join(f"{k} [{', '.join(f'{v:.4g}' for v in n.get(k, ())[:4])}]" for k in ("shift", "scale"))
        return f"{'uint8' if n.get('uint8', True) else 'float'} data normalised by {n.get('kind')} ({values})"

    return f"{text(saved)}, this data gives {text(current)}"


def check_resume_data(ckpt_path: str, changed: str | None) -> None:
    """A resume continues a run on its own data: other data would be refitted silently."""
    if changed:
        raise CheckpointError(
            f"ckpt_path={ckpt_path} was trained on {changed}: resume it with the data.* overrides it was trained "
            "with, or train on this data in a new run"
        )


def optimiser_settings_dropped(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The optim.* values of this run a resume does not apply (the optimiser state carries the
    learning rate and weight decay it was saved with)."""
    return [
        f"optim.{k}={current[k]} (restored: {saved[k]})"
        for k in ("lr", "weight_decay")
        if k in saved and saved[k] != current[k]
    ]


# --- weights against the module they are loaded into --------------------------------------------


def check_weights_fit(own: Mapping[str, Any], weights: Mapping[str, Any], path, key: str = "ckpt_path") -> None:
    """A checkpoint's `weights` have the names and shapes of the module's (`own`): one line
    naming the first mismatches."""
    problems = [f"{k} missing" for k in own if k not in weights]
    problems += [f"{k} unexpected" for k in weights if k not in own]
    problems += [
        f"{k} is {tuple(weights[k].shape)} here {tuple(own[k].shape)}"
        for k in own
        if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)
    ]
    if problems:
        more = f" and {len(problems) - 2} more" if len(problems) > 2 else ""
        raise CheckpointError(
            f"{key}={path} does not fit the model ({'; '.join(problems[:2])}{more}): "
            "give the model overrides it was trained with, or another checkpoint"
        )
