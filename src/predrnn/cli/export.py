"""`predrnn-export ckpt_path=… format=onnx|torchscript|exported-program output=…`: the
inference rollout as a self-contained artefact for deployment (see `predrnn.export`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from predrnn import checks
from predrnn.build import described_network
from predrnn.checkpoints import open_checkpoint, resolve_checkpoint, single_run_checkpoints
from predrnn.cli.entry import entry_point, report_errors
from predrnn.export import FORMATS, Rollout, export
from predrnn.files import check_output
from predrnn.threads import share_cpus


def export_task(cfg: DictConfig) -> Path:
    share_cpus(1)
    fmt = checks.choice("format", cfg.format, FORMATS, "onnx")
    checks.boolean("overwrite", cfg.overwrite)
    if cfg.num_predictions is not None:
        checks.integer("num_predictions", cfg.num_predictions, 10, minimum=1)
    ckpt = resolve_checkpoint(cfg.ckpt_path, single_run_checkpoints(cfg.paths.log_dir), "under logs/train")
    out = check_output(cfg.output, FORMATS[fmt], "output", inputs=[ckpt], overwrite=cfg.overwrite)
    check_output(
        out.with_name(out.name + ".json"), ".json", "output (its .json)", inputs=[ckpt], overwrite=cfg.overwrite
    )
    opened = open_checkpoint(ckpt, cfg, describe=lambda: described_network(cfg))
    print(f"predrnn-export: checkpoint {opened.describe()}")
    module = opened.module
    k = cfg.num_predictions or opened.trained_future_frames(cfg.data)
    info = export(Rollout(module.network, k, module.normalization), fmt, out, source=str(ckpt), overwrite=cfg.overwrite)
    print(f"exported {fmt}: {info['input_length']} frames in, {k} out -> {out.resolve()} (+ .json)")
    return out


task = report_errors("predrnn-export")(export_task)  # the Hydra task, for in-process use
main = entry_point("export", "predrnn-export", export_task)


if __name__ == "__main__":
    main()
