"""The LightningModule: one shared step for train/val/test around any `predrnn.models` network."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from typing_extensions import override

from predrnn import checks
from predrnn.data.normalization import Normalization
from predrnn.errors import BadValue
from predrnn.models import PredRNN, reconstruction_loss
from predrnn.models.losses import RECONSTRUCTION_LOSSES
from predrnn.training.fastpath import FastPath, GraphedTrainStep
from predrnn.training.metrics import METRIC_NAMES, FrameMetrics
from predrnn.training.optim import Optim

BASELINES = ("zeros", "copy_last")  # black frames; the last observed frame repeated


def make_lpips():
    """torchmetrics' LPIPS (AlexNet) where torchvision and its weights are available; otherwise
    None, with a one-time notice (the other metrics are computed either way)."""
    from pytorch_lightning.utilities import rank_zero_info

    try:
        import torchvision  # noqa: F401
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    except Exception as err:  # missing torchvision, or weights that can't be loaded offline
        rank_zero_info(f"LPIPS skipped ({type(err).__name__}: {err})".split("\n")[0])
        return None


class PredRNNModule(pl.LightningModule):
    """Trains `network` to predict frames 1..T-1 from frames 0..T-2 under a teacher mask.

    The `teacher_mask` attribute is set before each training batch by a sampling-schedule
    callback (`predrnn.training.sampling`); without one, training runs free (true inputs for
    the J observed frames, own outputs after). Validation and test always run free.
    `compile`, `channels_last` and `cuda_graph` choose the fast path (`training/fastpath.py`).
    """

    def __init__(
        self,
        network: PredRNN | Mapping[str, Any],
        optim: Optim | Mapping[str, Any] | None = None,
        loss: str = "l1_l2",
        decouple_beta: float = 0.0,
        reverse_input: bool = False,
        compile: str | None = None,
        channels_last: bool = False,
        cuda_graph: bool = False,
        normalization: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        network = network if isinstance(network, PredRNN) else PredRNN(**network)
        optim = optim if isinstance(optim, Optim) else Optim(**(optim or {}))
        checks.choice("loss", loss, RECONSTRUCTION_LOSSES, "mse")
        checks.number("decouple_beta", decouple_beta, 0.1, minimum=0.0)
        checks.boolean("reverse_input", reverse_input)
        if decouple_beta > 0 and not network.uses_memory:
            raise BadValue("decouple_beta", decouple_beta, "needs ST-LSTM cells (model.cell=stlstm)", 0.0)
        self.fast = FastPath(compile, channels_last, cuda_graph)
        self.network = network
        self.optim = optim
        # data units <-> model units and the metric scale, fitted on the training data (docs/data.md)
        if normalization is None:
            self.normalization = Normalization.identity(network.in_channels)
        else:
            self.normalization = Normalization(**normalization)
        if self.normalization.channels != network.in_channels:
            raise ValueError(
                f"normalisation for {self.normalization.channels} channels, network for {network.in_channels}"
            )
        if network.uses_memory and decouple_beta == 0:
            # the V2 adapters get no gradient without the decoupling loss; DDP rejects unused
            # trainable parameters, so they are frozen
            network.adapters.requires_grad_(False)
        self.save_hyperparameters(ignore=["network", "optim", "normalization"])
        self.hparams["network"] = dict(network.init_args)
        self.hparams["optim"] = optim.as_dict()
        self.hparams["normalization"] = self.normalization.as_dict()
        self.graph_step: GraphedTrainStep | None = None
        self.teacher_mask: Tensor | None = None
        self.input_length = network.input_length
        self.val_metrics: FrameMetrics | None = None
        self.test_metrics: FrameMetrics | None = None
        self.baseline_metrics: dict[str, FrameMetrics] = {}
        self.val_results: dict[str, Any] = {}
        self.test_results: dict[str, Any] = {}
        self.lpips = None

    # --- model -------------------------------------------------------------------------------
    @property
    def automatic_optimization(self) -> bool:  # type: ignore[override]
        """Lightning steps the optimiser, except where the step is one CUDA graph."""
        return not self.fast.graphed(self.run_device())

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        """Decided by the fast path; Lightning's constructor sets a default that is ignored."""

    @override
    def setup(self, stage: str) -> None:
        self.fast.prepare(self.network, self.run_device())

    def run_device(self) -> torch.device:
        """Where this run computes: the Trainer's device (setup runs before the module is moved
        there), or the module's own when used without one (predrnn-predict)."""
        trainer = self._trainer
        return trainer.strategy.root_device if trainer is not None else self.device

    @override
    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None, return_decouple_loss: bool = False):
        return self.network(self.fast.layout(frames), teacher_mask, return_decouple_loss=return_decouple_loss)

    # --- the shared step ---------------------------------------------------------------------
    def compute_loss(self, frames: Tensor, mask: Tensor | None, training: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """(loss, predictions, decoupling loss or None) over all T-1 outputs."""
        if training and self.hparams.reverse_input:
            # the official script also trains on each sequence played backwards
            frames = torch.cat([frames, frames.flip(1)])
            mask = None if mask is None else torch.cat([mask, mask])
        beta = self.hparams.decouple_beta if training else 0.0
        if beta > 0:
            predictions, decouple = self(frames, mask, return_decouple_loss=True)
        else:
            predictions, decouple = self(frames, mask), None
        loss = reconstruction_loss(predictions, frames[:, 1:], self.hparams.loss)
        if decouple is not None:
            loss = loss + beta * decouple
        return loss, predictions, decouple

    def shared_step(self, frames: Tensor, stage: str) -> tuple[Tensor, Tensor | None]:
        """Loss and logging for any stage; metrics over the K future frames (val/test)."""
        training = stage == "train"
        if training and self.graph_step is not None:  # forward, backward and Adam: one replay
            outputs = self.optimizers().step(closure=lambda: self.graph_step(frames, self.teacher_mask))
            scheduler = self.lr_schedulers()
            if scheduler is not None:  # fills the learning-rate tensor the next replay reads
                scheduler.step()
            # the graph's outputs are overwritten by the next replay: keep this step's values
            loss, decouple = (None if t is None else t.detach().clone() for t in outputs)
            predictions = None
        else:
            mask = self.teacher_mask if training else None
            loss, predictions, decouple = self.compute_loss(frames, mask, training)
        if decouple is not None:
            self.log(f"{stage}/decouple_loss", decouple, on_step=training, on_epoch=not training)
        self.log(f"{stage}/loss", loss, on_step=training, on_epoch=not training, prog_bar=training)
        if not training:
            # metrics on the metric scale: [0, 1] over the data's range, whatever the normalisation
            metrics = self.val_metrics if stage == "val" else self.test_metrics
            j = self.input_length - 1
            scaled = self.normalization.to_metric_scale
            target, future = scaled(frames[:, 1:][:, j:]), scaled(predictions[:, j:])
            metrics.update(future, target)
            if stage == "test":  # what a collapsed model would score, on the same sequences
                self.baseline_metrics["zeros"].update(torch.zeros_like(target), target)
                self.baseline_metrics["copy_last"].update(scaled(frames[:, j : j + 1]).expand_as(target), target)
            if stage == "test" and self.lpips is not None:
                # AlexNet LPIPS on RGB frames in [0, 1] (grey ones repeated to RGB)
                repeat = 3 // target.shape[2]
                pred = future.clamp(0, 1).flatten(0, 1).float().repeat(1, repeat, 1, 1)
                self.lpips.update(pred, target.clamp(0, 1).flatten(0, 1).float().repeat(1, repeat, 1, 1))
        return loss, predictions

    @override
    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        return self.shared_step(batch, "train")[0]

    @override
    def validation_step(self, batch: Tensor, batch_idx: int) -> dict[str, Tensor]:
        loss, predictions = self.shared_step(batch, "val")
        return {"loss": loss, "predictions": predictions}

    @override
    def test_step(self, batch: Tensor, batch_idx: int) -> dict[str, Tensor]:
        loss, predictions = self.shared_step(batch, "test")
        return {"loss": loss, "predictions": predictions}

    # --- metrics -----------------------------------------------------------------------------
    def _future_frames(self) -> int:
        total = getattr(getattr(self.trainer, "datamodule", None), "eval_total_length", None)
        if total is None:
            raise RuntimeError("PredRNNModule needs a datamodule with eval_total_length to size its metrics")
        return total - self.input_length

    @override
    def on_validation_epoch_start(self) -> None:
        self.val_metrics = FrameMetrics(self._future_frames()).to(self.device)

    @override
    def on_test_epoch_start(self) -> None:
        self.test_metrics = FrameMetrics(self._future_frames()).to(self.device)
        self.baseline_metrics = {name: FrameMetrics(self._future_frames()).to(self.device) for name in BASELINES}
        self.lpips = make_lpips() if self.network.in_channels in (1, 3) else None
        if self.lpips is not None:
            self.lpips = self.lpips.to(self.device)

    def _summarise(self, metrics: FrameMetrics, stage: str) -> dict[str, Any]:
        values = metrics.compute()
        for n in METRIC_NAMES:  # the progress bar shows the last validation MSE
            self.log(f"{stage}/{n}", values[n].float(), sync_dist=False, prog_bar=stage == "val" and n == "mse")
        result: dict[str, Any] = {n: float(values[n]) for n in METRIC_NAMES}
        result.update({f"{n}_per_frame": values[f"{n}_per_frame"].tolist() for n in METRIC_NAMES})
        result["num_sequences"] = int(values["count"])
        result["scale"] = self.normalization.scale_description()
        metrics.reset()
        return result

    @override
    def on_validation_epoch_end(self) -> None:
        self.val_results = self._summarise(self.val_metrics, "val")

    @override
    def on_test_epoch_end(self) -> None:
        self.test_results = self._summarise(self.test_metrics, "test")
        self.test_results["baselines"] = {
            name: self._summarise(metrics, f"test/baseline_{name}") for name, metrics in self.baseline_metrics.items()
        }
        if self.lpips is not None:
            self.test_results["lpips"] = float(self.lpips.compute())
            self.log("test/lpips", self.test_results["lpips"])
        for k, v in enumerate(self.test_results["mse_per_frame"], start=1):
            self.log(f"test/mse_frame_{k}", float(v))

    # --- optimisation ------------------------------------------------------------------------
    @override
    def configure_optimizers(self):
        device = self.run_device()
        graphed = self.fast.graphed(device)
        steps = self.trainer.max_steps if self.trainer.max_steps > 0 else self.trainer.estimated_stepping_batches
        optimizer = self.optim.build(self.parameters(), fused=device.type == "cuda", capturable=graphed)
        if graphed:
            self.graph_step = self.fast.train_step(
                lambda frames, mask: self.compute_loss(frames, mask, training=True)[::2],
                list(self.parameters()),
                optimizer,
            )
            optimizer = self.fast.optimizer(optimizer, device)
        scheduler = self.optim.schedule(optimizer, steps)
        if scheduler is None:
            return optimizer
        if graphed:  # manual optimisation: the graphed step steps the schedule itself
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
