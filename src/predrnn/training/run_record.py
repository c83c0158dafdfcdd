"""What a training run leaves in its folder beside the checkpoints, and the command that resumes
it: `summary.json` (written whatever happens, docs/usage.md), `sample_input.npy` (a few held-out
test clips for the printed predict command) and the resume command of an interrupted run."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from predrnn.command_line import override_text, script_command, shell_word
from predrnn.files import write_json

SUMMARY_FILE = "summary.json"
SAMPLE_FILE = "sample_input.npy"
SAMPLE_CLIPS = 2  # test clips in sample_input.npy: enough to try predict on, small on disk


def write_summary(output_dir: Path, summary: dict[str, Any]) -> None:
    """`summary.json` in the run folder (atomically; the folder is made if needed)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / SUMMARY_FILE, summary)


def record_signal(summary: dict[str, Any], signum: int, not_written: str) -> None:
    """summary.json says which signal stopped the run, the exit code it ends with, and what is missing."""
    summary.update(signal=signal.Signals(signum).name, exit_code=128 + signum, not_written=not_written)


def save_sample_input(output_dir: Path, datamodule, input_length: int) -> tuple[Path, str] | None:
    """The observed frames (the first `input_length`) of a few of the run's test clips, as
    `sample_input.npy` in the run folder ((N, J, C, H, W) in the data's units), so that the
    printed predict command runs as printed on held-out clips; returns the file and the
    overrides that read it, or None (clips with actions, or no test clips)."""
    import numpy as np

    path = output_dir / SAMPLE_FILE
    try:
        dataset = datamodule.eval_dataset("test")
        if dataset is None:
            datamodule.setup("test")
            dataset = datamodule.eval_dataset("test")
        count = min(SAMPLE_CLIPS, len(dataset))
        clips = dataset.__getitems__(list(range(count))) if count else None
    except Exception:  # the sample is a convenience: the run's own results don't depend on it
        return None
    if isinstance(clips, dict) and set(clips) == {"frames", "times"}:  # data=xarray's windows with their times
        clips = clips["frames"]
    if clips is None or isinstance(clips, dict):  # none, or frames with actions (predict needs the actions file)
        return None
    np.save(path, np.ascontiguousarray(np.asarray(clips)[:, :input_length]))
    return path, " data.layout=NTCHW"


def resume_command(last: Path, task_overrides: Sequence[str] = (), hydra_overrides: Sequence[str] = ()) -> str:
    """The command line that resumes a run from `last`: the run's overrides (`task_overrides`,
    and the `hydra.searchpath=` of `hydra_overrides`) with ckpt_path, each quoted for the shell
    where it needs it."""
    overrides = [o for o in task_overrides if not o.startswith("ckpt_path=")]
    overrides = [o for o in hydra_overrides if o.startswith("hydra.searchpath=")] + overrides
    command = script_command("predrnn-train")  # the absolute path where the environment is not on PATH
    return " ".join([command, *map(shell_word, overrides), override_text("ckpt_path", str(last))])
