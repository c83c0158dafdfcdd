"""The closing lines of a training run: its status, the test beside the baselines, the files it
wrote, and the commands that use its checkpoint (or resume it), runnable as printed."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console
from rich.markup import escape

from predrnn.command_line import override_text, script_command
from predrnn.training.metric_tables import fmt, metric_names, undefined_line, undefined_metrics

SAMPLE_NOTE = "a few test clips, held out from training"
BASELINE_LABELS = {"zeros": "black frames", "copy_last": "copying the last frame", "extrapolation": "optical flow"}


@rank_zero_only
def print_run_summary(
    summary: dict[str, Any],
    run_dir: Path,
    resume_cmd: str | None = None,
    data_args: tuple[str, str] = ("", ""),
    sample: tuple[Path, str] | None = None,
    network: Sequence[str] = (),
) -> None:
    """The closing lines of a run (after the per-frame table): its status, the test means beside
    the zeros and copy-last baselines, the files it wrote, and the commands that use its
    checkpoint (or resume it), runnable as printed; `data_args`: what those commands need to
    read the run's data and its test set (evaluate, predict); `sample`: a saved input of a few
    test clips and the overrides that read it (the predict command's input); `network`: the
    overrides that describe the user's own network (`command_line.network_overrides`), added to
    those commands."""
    console = Console(highlight=False, soft_wrap=True)  # paths and commands stay whole, to copy
    say = functools.partial(console.print, markup=False)  # brackets in paths and overrides are text
    status, step = summary.get("status"), summary.get("global_step")
    console.print(f"\n[bold]{status}[/] at step {step} — run folder {escape(str(run_dir))}")
    test = summary.get("test")
    for line in beside_baselines(test or {}):
        say(line)
    media = sorted((run_dir / "media").glob("test_*seq0.png")) or sorted((run_dir / "media").glob("val_*seq0.png"))
    files = {
        "strip": media[-1] if media else None,
        "GIF": media[-1].with_suffix(".gif") if media else None,
        "plot": run_dir / "metrics_per_frame.png",
        "best": Path(summary["best_checkpoint"]) if summary.get("best_checkpoint") else None,
        "last": run_dir / "checkpoints" / "last.ckpt",
    }
    for label, path in files.items():
        if path is not None and path.is_file():
            say(f"  {label:6} {path}")
    for offline in sorted((run_dir / "wandb").glob("offline-run-*")):
        say(f"  wandb  {offline}  (upload: wandb sync {offline})")
    if resume_cmd:
        say(f"resume with:  {resume_cmd}")
    ckpt = files["best"] if files["best"] is not None and files["best"].is_file() else files["last"]
    if ckpt.is_file():
        checkpoint = override_text("ckpt_path", str(ckpt))
        network_args = "".join(f" {arg}" for arg in network)  # the user's own network: its search path, model=
        say(f"evaluate:     {script_command('predrnn-eval')} {checkpoint}{network_args}{data_args[0]}")
        if sample is not None:
            source, read = override_text("input", str(sample[0])), sample[1]
            say(f"  sample {sample[0]}  (observed frames of {SAMPLE_NOTE})")
        else:
            source, read = "input=<your clips .npy>", data_args[1]
        output = override_text("output", str(run_dir / "predictions.npy"))
        say(f"predict:      {script_command('predrnn-predict')} {checkpoint}{network_args} {source}{read} {output}")


def beside_baselines(test: dict[str, Any]) -> list[str]:
    """The closing lines of a test: every metric's whole-forecast value beside each baseline's,
    and a plain sentence where the model loses to a baseline (by the metric's
    `higher_is_better`, recorded by TestReport; metrics without a direction are shown, not judged)."""
    names = [n for n in metric_names(test) if n in test]
    if not names:
        return []
    base = test.get("baselines") or {}
    labels = [BASELINE_LABELS.get(b, b) for b in base]
    width = max(len(n) for n in names) + 2
    lines = [f"test over {test.get('num_sequences', '?')} sequences: the model"
             + (f" beside {', '.join(labels)}" if labels else "")]  # fmt: skip
    lines.append(f"  {'':{width}}{'model':>10}" + "".join(f"{label:>{max(len(label), 9) + 2}}" for label in labels))
    for name in names:
        row = f"  {name:{width}}{fmt(test.get(name)):>10}"
        row += "".join(f"{fmt(base[b].get(name)):>{max(len(label), 9) + 2}}" for b, label in zip(base, labels))
        lines.append(row)
    better = test.get("higher_is_better") or {}
    losses = []
    for b, label in zip(base, labels):
        lost = []
        for name in names:
            model, other, higher = test.get(name), base[b].get(name), better.get(name)
            if model is None or other is None or higher is None:
                continue
            if (higher and model < other) or (not higher and model > other):
                lost.append(f"{name} ({fmt(model)} vs {fmt(other)}, {'higher' if higher else 'lower'} is better)")
        if lost:
            losses.append(f"to {label} on {', '.join(lost)}")
    if losses:
        lines.append("the model LOSES " + "; ".join(losses))
    elif base and any(better.get(n) is not None for n in names):
        lines.append(f"the model beats {' and '.join(labels)} on every metric with a direction")
    undefined = undefined_metrics(test)
    if undefined:
        lines.append(undefined_line(undefined))
    return lines
