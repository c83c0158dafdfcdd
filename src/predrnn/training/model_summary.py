"""ModelSummary: Lightning's model table, with the network's forward FLOPs per sequence."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichModelSummary
from rich.console import Console
from rich.table import Table
from typing_extensions import override

from predrnn.models import api


class ModelSummary(RichModelSummary):
    """Lightning's summary table, with the network's analytic forward FLOPs per sequence (from
    its convolution shapes) where Lightning would need an example batch and print 0."""

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = getattr(trainer.datamodule, "total_length", None)
        self.flops = api.forward_flops(pl_module.network, 1, total) if total else None
        self.how = "analytic" if hasattr(pl_module.network, "forward_flops") else "counted"
        super().on_fit_start(trainer, pl_module)

    @override
    def summarize(self, summary_data, total_parameters, trainable_parameters, model_size, total_training_modes,
                  total_flops: int = 0, **kwargs) -> None:  # fmt: skip
        from pytorch_lightning.utilities.model_summary import get_human_readable_count

        columns = [c for c in summary_data if c[0] != "FLOPs"]  # per-layer FLOPs need an example batch
        table = Table(header_style="bold magenta")
        for name, _ in columns:
            table.add_column(name, justify="right" if name == "Params" else "left")
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        console = Console()
        console.print(table)
        console.print(
            f"[bold]Params[/]: {get_human_readable_count(total_parameters)} "
            f"({get_human_readable_count(trainable_parameters)} trainable, {model_size:0.2f} MB)  "
            f"[bold]FLOPs per sequence[/] (forward, {self.how}): "
            + ("unknown" if self.flops is None else get_human_readable_count(self.flops)),
            soft_wrap=True,
        )
