"""The LightningModule: one shared step for train/val/test around any `predrnn.models` network."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from typing_extensions import override

from predrnn.errors import CheckpointError, ConfigError
from predrnn.models import PredRNN, reconstruction_loss
from predrnn.models.losses import RECONSTRUCTION_LOSSES
from predrnn.toolchain import require_cpu_compiler
from predrnn.training.graph import GraphedOptimizer, GraphedTrainStep
from predrnn.training.metrics import METRIC_NAMES, FrameMetrics

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("cosine",)


def make_lpips():
    """torchmetrics' LPIPS (AlexNet) where torchvision and its weights are available; otherwise
    None, with a one-time notice (the other metrics are computed either way)."""
    from pytorch_lightning.utilities import rank_zero_warn

    try:
        import torchvision  # noqa: F401
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    except Exception as err:  # missing torchvision, or weights that can't be loaded offline
        rank_zero_warn(f"LPIPS skipped: {type(err).__name__}: {err}".split("\n")[0])
        return None


class PredRNNModule(pl.LightningModule):
    """Trains `network` to predict frames 1..T-1 from frames 0..T-2 under a teacher mask.

    The `teacher_mask` attribute is set before each training batch by a sampling-schedule
    callback (`predrnn.training.sampling`); without one, training runs free (true inputs for
    the J observed frames, own outputs after). Validation and test always run free.
    """

    def __init__(
        self,
        network: PredRNN | Mapping[str, Any],
        loss: str = "l1_l2",
        decouple_beta: float = 0.0,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: str | None = None,
        reverse_input: bool = False,
        compile: str | None = None,
        channels_last: bool = False,
        cuda_graph: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(network, Mapping):
            network = PredRNN(**network)
        if loss not in RECONSTRUCTION_LOSSES:
            raise ConfigError(f"module.loss {loss!r} is unknown: use one of {', '.join(RECONSTRUCTION_LOSSES)}")
        if lr <= 0:
            raise ConfigError(f"module.lr must be positive, got {lr}: e.g. module.lr=1e-3")
        if weight_decay < 0:
            raise ConfigError(f"module.weight_decay must be >= 0, got {weight_decay}")
        if decouple_beta < 0:
            raise ConfigError(f"module.decouple_beta must be >= 0, got {decouple_beta}")
        if decouple_beta > 0 and not network.uses_memory:
            raise ConfigError("module.decouple_beta > 0 needs ST-LSTM cells: set model.cell=stlstm or beta 0")
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"module.optimizer {optimizer!r} is unknown: use one of {', '.join(OPTIMIZERS)}")
        if scheduler is not None and scheduler not in SCHEDULERS:
            raise ConfigError(f"module.scheduler {scheduler!r} is unknown: use null or {', '.join(SCHEDULERS)}")
        if compile is not None and compile not in COMPILE_MODES:
            raise ConfigError(f"module.compile {compile!r} is unknown: use null or one of {', '.join(COMPILE_MODES)}")
        if cuda_graph and scheduler is not None:
            raise ConfigError("module.cuda_graph bakes the learning rate into the graph: set module.scheduler=null")
        if cuda_graph and compile in ("reduce-overhead", "max-autotune"):
            raise ConfigError(
                f"module.compile={compile} makes CUDA graphs of its own: with module.cuda_graph=true use "
                "module.compile=default or max-autotune-no-cudagraphs"
            )
        self.network = network
        if network.uses_memory and decouple_beta == 0:
            # the V2 adapters get no gradient without the decoupling loss; DDP rejects unused
            # trainable parameters, so they are frozen
            network.adapters.requires_grad_(False)
        self.save_hyperparameters(ignore=["network"])
        # the graphed step makes its own optimiser step, so Lightning hands over the loop
        self.automatic_optimization = not cuda_graph
        self._graph_step: GraphedTrainStep | None = None
        self.hparams["network"] = dict(network.init_args)
        self.teacher_mask: Tensor | None = None
        self.input_length = network.input_length
        self.register_buffer("nonfinite", torch.zeros((), dtype=torch.bool), persistent=False)
        self.val_metrics: FrameMetrics | None = None
        self.test_metrics: FrameMetrics | None = None
        self.test_results: dict[str, Any] = {}
        self.lpips = None

    # --- model -------------------------------------------------------------------------------
    @override
    def setup(self, stage: str) -> None:
        if self.hparams.channels_last:
            self.network.to(memory_format=torch.channels_last)
        if self.hparams.compile and not self.network.cells_compiled:
            # fail here, not at the first step inside inductor
            require_cpu_compiler("module.compile", self.hparams.compile, self._run_device().type)
            # train/eval and batch-size variants of each cell shape all need cache entries
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
            self.network.compile_cells(mode=self.hparams.compile)

    def _run_device(self) -> torch.device:
        """Where this run computes: the Trainer's device (setup runs before the module is moved
        there), or the module's own when used without one (predrnn-predict)."""
        try:
            return self.trainer.strategy.root_device
        except RuntimeError:  # not attached to a Trainer
            return self.device

    @override
    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None, return_decouple_loss: bool = False):
        if self.hparams.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last_3d)
        return self.network(frames, teacher_mask, return_decouple_loss=return_decouple_loss)

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
        if training:
            self.nonfinite |= ~torch.isfinite(loss.detach())  # checked by NonFiniteGuard, no sync here
        return loss, predictions, decouple

    def shared_step(self, frames: Tensor, stage: str) -> tuple[Tensor, Tensor]:
        """Loss and logging for any stage; metrics over the K future frames (val/test)."""
        training = stage == "train"
        mask = self.teacher_mask if training else None
        loss, predictions, decouple = self.compute_loss(frames, mask, training)
        if decouple is not None:
            self.log(f"{stage}/decouple_loss", decouple, on_step=training, on_epoch=not training)
        self.log(f"{stage}/loss", loss, on_step=training, on_epoch=not training, prog_bar=training)
        if not training:
            metrics = self.val_metrics if stage == "val" else self.test_metrics
            j = self.input_length - 1
            metrics.update(predictions[:, j:], frames[:, 1:][:, j:])
            if stage == "test" and self.lpips is not None:
                # AlexNet LPIPS on grey frames repeated to RGB, inputs in [0, 1]
                pred = predictions[:, j:].clamp(0, 1).flatten(0, 1).float().repeat(1, 3, 1, 1)
                self.lpips.update(pred, frames[:, 1:][:, j:].flatten(0, 1).float().repeat(1, 3, 1, 1))
        return loss, predictions

    @override
    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        if self.automatic_optimization:
            return self.shared_step(batch, "train")[0]
        optimizer = self.optimizers()
        if isinstance(optimizer.optimizer, GraphedOptimizer):
            loss = optimizer.step(closure=lambda: self._graphed(batch))
        else:  # cuda_graph asked for, but no CUDA here: the same step, eagerly
            optimizer.zero_grad()
            loss = self.shared_step(batch, "train")[0]
            self.manual_backward(loss)
            optimizer.step()
            return loss
        self.log("train/loss", loss, on_step=True, prog_bar=True)
        return loss

    def _graphed(self, batch: Tensor) -> Tensor:
        if self._graph_step is None:
            dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else None

            def loss_fn(frames: Tensor, mask: Tensor | None) -> Tensor:
                # autocast without its weight cache: casts must be recorded inside the graph
                with torch.autocast(
                    "cuda", dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=False
                ):
                    return self.compute_loss(frames, mask, training=True)[0]

            inner = self.optimizers().optimizer.inner
            self._graph_step = GraphedTrainStep(loss_fn, list(self.parameters()), inner)
        return self._graph_step(batch, self.teacher_mask).detach().clone()

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
        dm = getattr(self.trainer, "datamodule", None)
        total = getattr(dm, "total_length", None)
        if total is None:
            raise ConfigError("the module needs a datamodule with total_length to size its metrics")
        return total - self.input_length

    @override
    def on_validation_epoch_start(self) -> None:
        self.val_metrics = FrameMetrics(self._future_frames()).to(self.device)

    @override
    def on_test_epoch_start(self) -> None:
        self.test_metrics = FrameMetrics(self._future_frames()).to(self.device)
        self.lpips = make_lpips()
        if self.lpips is not None:
            self.lpips = self.lpips.to(self.device)

    def _summarise(self, metrics: FrameMetrics, stage: str) -> dict[str, Any]:
        values = metrics.compute()
        self.log_dict({f"{stage}/{n}": values[n].float() for n in METRIC_NAMES}, sync_dist=False)
        result: dict[str, Any] = {n: float(values[n]) for n in METRIC_NAMES}
        result.update({f"{n}_per_frame": values[f"{n}_per_frame"].tolist() for n in METRIC_NAMES})
        result["num_sequences"] = int(values["count"])
        metrics.reset()
        return result

    @override
    def on_validation_epoch_end(self) -> None:
        self.val_results = self._summarise(self.val_metrics, "val")

    @override
    def on_test_epoch_end(self) -> None:
        self.test_results = self._summarise(self.test_metrics, "test")
        if self.lpips is not None:
            self.test_results["lpips"] = float(self.lpips.compute())
            self.log("test/lpips", self.test_results["lpips"])
        for k, v in enumerate(self.test_results["mse_per_frame"], start=1):
            self.log(f"test/mse_frame_{k}", float(v))

    # --- optimisation ------------------------------------------------------------------------
    @override
    def configure_optimizers(self):
        h = self.hparams
        cls = torch.optim.Adam if h.optimizer == "adam" else torch.optim.AdamW
        cuda = next(self.parameters()).is_cuda
        graphed = h.cuda_graph and cuda
        optimizer = cls(self.parameters(), lr=h.lr, weight_decay=h.weight_decay, fused=cuda, capturable=graphed)
        if graphed:
            return GraphedOptimizer(optimizer)
        if h.scheduler is None:
            return optimizer
        steps = self.trainer.max_steps if self.trainer.max_steps > 0 else self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(steps)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # --- checkpoints -------------------------------------------------------------------------
    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("hyper_parameters", {}).get("network")
        current = dict(self.network.init_args)
        if saved is not None and dict(saved) != current:
            diff = ", ".join(
                f"{k}={saved.get(k)} (config: {current.get(k)})" for k in current if saved.get(k) != current.get(k)
            )
            raise CheckpointError(
                f"checkpoint was trained with {diff}: use matching model/data overrides or another ckpt_path"
            )
