"""The one call through which every entry point opens a checkpoint (docs/checkpoints.md):
predrnn's own, the authors' PredRNN code's (`net_param`) or OpenSTL's, read weights-only,
rebuilt as the module class the caller gives (`PredRNNModule`: this package imports nothing of
`predrnn.training`) with no class named in the file. Whether the checkpoint, the command line's
overrides and the data belong together is `predrnn.compatibility`'s answer."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from predrnn.checkpoints.io import check_finite_weights, check_normalization, load_weights, read_checkpoint
from predrnn.checkpoints.native import is_native, legacy_weights, native_hparams, network_from_spec
from predrnn.checkpoints.official import is_official
from predrnn.checkpoints.openstl import never_called, openstl_weights
from predrnn.checkpoints.reference import reference_weights
from predrnn.compatibility import check_input_length, refuse_model_overrides
from predrnn.errors import BadValue, CheckpointError


@dataclass
class OpenedCheckpoint:
    """An opened checkpoint: the module rebuilt from it, the file's dict and its format."""

    module: Any
    state: dict
    kind: str  # "predrnn", "official" or "openstl"
    path: str

    def trained_future_frames(self, data: Mapping[str, Any]) -> int:
        """How many frames its model was trained to predict: from its saved data settings, or
        (a weights-only file) from the `data` config that describes it."""
        saved = self.state.get("datamodule_hyper_parameters") or data
        where = f"ckpt_path={self.path}" if self.state.get("datamodule_hyper_parameters") else "data"
        lengths = [saved.get(k) if isinstance(saved, Mapping) else None for k in ("input_length", "total_length")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths) or not 1 <= lengths[0] < lengths[1]:
            raise CheckpointError(
                f"{where} holds input_length={lengths[0]}, total_length={lengths[1]}: not two integers "
                "1 <= input_length < total_length; give the frames to predict, e.g. num_predictions=10"
            )
        return lengths[1] - lengths[0]

    def future_frames(
        self, given: Any, data: Mapping[str, Any], *, clips: int = 1, accelerator: str = "auto",
        per_step: int = 0, what: str = "predicting them",
    ) -> int:  # fmt: skip
        """K, the frames to predict: `given` (num_predictions) or what the model was trained for,
        bounded by the memory a rollout of K needs, refused before anything is allocated. The
        estimate is a lower bound (as for training's sizes, `build.check_fits_memory`):
        `clips` rollouts of J + K frames, their J + K − 1 predictions (float32), plus `per_step`
        bytes per step (an export's graph grows by one step's operations per frame)."""
        from predrnn.build import memory_limit, readable_bytes

        k = self.trained_future_frames(data) if given is None else int(given)
        network = self.module.network
        c, (h, w) = network.in_channels, tuple(network.image_size)
        steps = int(network.input_length) + k
        per_frame = 4 * clips * c * h * w * 2 + per_step  # bytes per step of the rollout
        need = per_frame * steps
        limit = memory_limit({"accelerator": accelerator})
        if limit is not None and need > limit[0]:
            fits = max(1, (limit[0] // per_frame - int(network.input_length)) // 2)
            key = "num_predictions" if given is not None else f"ckpt_path={self.path}'s total_length"
            shown = f"num_predictions={k}" if given is not None else f"{key} (K = {k})"
            raise CheckpointError(
                f"{shown}: {what} needs at least {readable_bytes(need)}, more than {limit[1]} {readable_bytes(limit[0])}: "
                f"predict fewer frames, e.g. num_predictions={min(fits, k - 1)}"
            )
        return k

    def describe(self) -> str:
        """`<path> (<what it is>)`, for the line every entry point prints."""
        if self.kind != "predrnn":
            return f"{self.path} ({self.kind} checkpoint, described by the model/data overrides)"
        step = self.state.get("global_step")
        run = Path(self.path).parent.parent if Path(self.path).parent.name == "checkpoints" else None
        network = self.module.hparams["network"]["_target_"].rpartition(".")[2]
        where = f", run {run}" if run is not None else ""
        return f"{self.path} ({network}, step {step}{where})"


def _user_target(cfg) -> str | None:
    model = None if cfg is None else cfg.get("model")
    return None if model is None else model.get("_target_")


FAST_PATH = ("compile", "channels_last")  # the module.* switches a command gives the module it opens


def _build_module(module_class, network, settings: dict[str, Any]):
    """`module_class(network, **settings)`, a bad fast-path switch named as its module.* key."""
    try:
        return module_class(network, **settings)
    except BadValue as err:
        if err.key in FAST_PATH and not err.group:
            raise err.in_group("module") from None
        raise


def open_checkpoint(
    path: str | Path, cfg=None, *, module_class: type, key: str = "ckpt_path", compile: str | None = None,
    channels_last: bool = False, describe: Callable[[], nn.Module] | None = None, overrides: Sequence[str] = (),
    **module_args: Any,
) -> OpenedCheckpoint:  # fmt: skip
    """Read `path` weights-only and rebuild its module, an instance of `module_class`
    (`predrnn.training.module.PredRNNModule`, given by the caller).

    A predrnn checkpoint carries its network (`_target_` and arguments, honoured only for
    predrnn's own networks or the `model._target_` of `cfg`) and module settings; a weights-only
    file (official, OpenSTL) is described by `describe()`, which builds the network from the
    model and data overrides. `compile`/`channels_last` are the fast path of this run;
    `overrides` the command line's (`Launch.task`), checked against the checkpoint;
    `module_args` (metrics, baselines, future_frames) the evaluation settings of this run.
    """
    path = str(path)
    state = read_checkpoint(path, key)
    fast = {"compile": compile, "channels_last": channels_last}
    reference = state["net_param"] if is_official(state) else openstl_weights(state)
    if reference is not None:
        kind = "official" if is_official(state) else "openstl"
        if describe is None:
            raise CheckpointError(
                f"{key}={path} is an {kind} checkpoint (weights only): convert it with predrnn-convert"
            )
        network = describe()
        weights, ignored = reference_weights(reference, network, path, key, kind, never_called(network))
        check_finite_weights(weights, path, key, network.state_dict())
        network.load_state_dict(weights)
        if ignored:
            print(
                f"note: {key}={path} holds {len(ignored)} weights for modules the network never calls "
                f"({', '.join(ignored[:2])}{' …' if len(ignored) > 2 else ''}): not used",
                file=sys.stderr,
            )
        beta = (cfg.get("module") or {}).get("decouple_beta", 0.0) if cfg is not None else 0.0
        module = _build_module(module_class, network, {"decouple_beta": beta, **fast, **module_args})
        return OpenedCheckpoint(module, state, kind, path)
    hparams = native_hparams(state, path, key)
    check_normalization(hparams, path, key)
    spec = hparams["network"]
    if cfg is not None:
        refuse_model_overrides(path, spec.get("_target_"), _user_target(cfg), overrides, key)
    network = network_from_spec(spec, _user_target(cfg), path, key)
    check_input_length(state, network, path, key)
    accepted = inspect.signature(module_class).parameters
    settings = {k: v for k, v in hparams.items() if k in accepted and k != "network"}
    try:
        module = _build_module(module_class, network, {**settings, **fast, **module_args})
    except BadValue as err:
        if err.group == "module" and err.key in FAST_PATH:  # this run's switch, not the checkpoint's
            raise
        raise CheckpointError(f"{key}={path} holds settings this version of predrnn can't build ({err})") from None
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{key}={path} holds settings this version of predrnn can't build ({err})") from None
    weights = state["state_dict"]
    if "_target_" not in state["hyper_parameters"]["network"]:  # written before networks were named
        weights = legacy_weights(weights, module)
    check_finite_weights(weights, path, key, module.state_dict())
    load_weights(module, weights, path, key)
    return OpenedCheckpoint(module, state, "predrnn", path)


__all__ = ["OpenedCheckpoint", "is_native", "open_checkpoint"]
