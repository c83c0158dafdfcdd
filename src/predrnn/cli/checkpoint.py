"""Loading a trained module from a checkpoint, with one-line errors."""

from __future__ import annotations

from typing import Any

from predrnn.errors import CheckpointError


def load_module(path: str, **overrides: Any):
    """The PredRNNModule saved at `path` (its network settings come from the checkpoint)."""
    import pickle

    from predrnn.training.module import PredRNNModule

    try:
        return PredRNNModule.load_from_checkpoint(path, map_location="cpu", **overrides)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({err}): give a .ckpt that predrnn-train wrote")
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as err:
        if "zip" in str(err).lower() or "magic" in str(err).lower():
            raise CheckpointError(f"{path} is not a readable checkpoint ({err}): give a .ckpt that predrnn-train wrote")
        raise CheckpointError(
            f"{path} does not fit a predrnn model ({type(err).__name__}: {err}): use a predrnn-train checkpoint"
        )
