"""Loading a trained module from a checkpoint, with one-line errors."""

from __future__ import annotations

from predrnn.errors import CheckpointError, ConfigError, PredRNNError


def load_module(path: str, compile: str | None = None, channels_last: bool = False):
    """The PredRNNModule saved at `path` (its network settings come from the checkpoint), set
    up for inference with compiled cells and channels-last memory if asked (the fast path)."""
    import pickle

    from predrnn.training.module import COMPILE_MODES, PredRNNModule

    if compile is not None and compile not in COMPILE_MODES:
        raise ConfigError(f"compile={compile} is unknown: use null or one of {', '.join(COMPILE_MODES)}")
    try:
        return PredRNNModule.load_from_checkpoint(
            path, map_location="cpu", compile=compile, channels_last=bool(channels_last)
        )
    except PredRNNError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({err}): give a .ckpt that predrnn-train wrote")
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as err:
        if "zip" in str(err).lower() or "magic" in str(err).lower():
            raise CheckpointError(f"{path} is not a readable checkpoint ({err}): give a .ckpt that predrnn-train wrote")
        raise CheckpointError(
            f"{path} does not fit a predrnn model ({type(err).__name__}: {err}): use a predrnn-train checkpoint"
        )
