"""What a run needs recorded to be reproduced: the versions, the code, the device, the seed
and the exact test set."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import predrnn


def git_commit() -> dict[str, Any] | None:
    """The commit of the checkout predrnn runs from (None when installed from a wheel)."""
    source = Path(predrnn.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "uncommitted_changes": bool(dirty.stdout.strip())}


def record(seed: int, device: Any, test_set: dict[str, Any]) -> dict[str, Any]:
    import pytorch_lightning as pl
    import torch

    device_name = str(device)
    if getattr(device, "type", None) == "cuda":
        device_name = f"{device} ({torch.cuda.get_device_name(device)})"
    return {
        "predrnn": predrnn.__version__,
        "git": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "device": device_name,
        "cpu_threads": torch.get_num_threads(),
        "seed": seed,
        "test_set": test_set,
    }
