"""The LightningModule: one shared step for train/val/test around any network that keeps the
contract of `models/api.py` (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor, nn
from typing_extensions import override

from predrnn import checks
from predrnn.baselines import BASELINES
from predrnn.config_groups import CONF_DIR
from predrnn.data.normalization import Normalization
from predrnn.errors import BadValue, ConfigError
from predrnn.extrapolation import require_pysteps
from predrnn.metrics.collection import MetricSet
from predrnn.models import api, reconstruction_loss
from predrnn.models.losses import RECONSTRUCTION_LOSSES
from predrnn.training.fastpath import FastPath, GraphedTrainStep
from predrnn.training.optim import Optim
from predrnn.training.sampling import FreeRunning, ScheduledSampling

DEFAULT_BASELINES = ("zeros", "copy_last")
VALID = "valid"  # the batch key of the coverage mask (data/base.py)
TIMES = "times"  # the batch key of each frame's valid time (data=xarray's evaluation windows)


def no_coverage(frames: Tensor, hole: Tensor | None) -> Tensor:
    """`frames` with NaN where `hole` (bool, the same shape) is True; unchanged without one."""
    return frames if hole is None else frames.masked_fill(hole, float("nan"))


def default_metrics() -> dict[str, Any]:
    """The `metrics=default` config group, for a module built without a config."""
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "metrics" / "default.yaml"))


class PredRNNModule(pl.LightningModule):
    """Trains `network` on what it predicts (models/api.py): a next-frame network predicts
    frames 1..T-1 from frames 0..T-2 under a teacher mask, and the loss covers all T-1 of them;
    a fixed-horizon network predicts the T-J frames after the J observed ones (chunk by chunk
    beyond its own horizon), and the loss covers those.

    The mask of a training step comes from `sampling` (a schedule of `training/sampling.py`);
    without one, training runs free (true inputs for the J observed frames, own outputs
    after). A network that takes no mask ignores a schedule, with a one-line notice.
    Validation and test always run free and score the K = `future_frames` predicted
    frames with `metrics` (name -> metric config, `conf/metrics/`); the test also scores
    `baselines` on the same sequences. A network's auxiliary losses are added to the
    reconstruction loss, each weighted as the network's `aux_losses` says: a number, or the
    module option that holds its weight (PredRNN-V2's `decouple`: `decouple_beta`).
    `compile`, `channels_last` and `cuda_graph` choose the fast path (`training/fastpath.py`).

    A batch with `valid` (bool (B, T, C, H, W), from a data module with `no_data = "mask"`) has
    no-coverage pixels: the loss is the mean over the valid target pixels only, and scoring puts
    NaN into predictions, targets and baseline forecasts wherever the truth has no coverage, so
    every metric and baseline sees the same mask (docs/metrics.md, "Pixels without data").
    `data_description` (what the data is: variables, units, …) is kept verbatim in the
    hyper-parameters, so it travels in every checkpoint.
    """

    def __init__(
        self,
        network: nn.Module,
        optim: Optim | Mapping[str, Any] | None = None,
        sampling: ScheduledSampling | None = None,
        metrics: Mapping[str, Any] | None = None,
        baselines: Sequence[str] = DEFAULT_BASELINES,
        future_frames: int | None = None,
        loss: str = "l1_l2",
        decouple_beta: float = 0.0,
        reverse_input: bool = False,
        compile: str | None = None,
        channels_last: bool = False,
        cuda_graph: bool = False,
        normalization: Mapping[str, Any] | None = None,
        data_description: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if data_description is not None and not isinstance(data_description, Mapping):
            raise TypeError(f"data_description must be a mapping or None, not {type(data_description).__name__}")
        api.check_network(network)
        optim = optim if isinstance(optim, Optim) else Optim(**(optim or {}))
        checks.choice("loss", loss, RECONSTRUCTION_LOSSES, "mse")
        checks.number("decouple_beta", decouple_beta, 0.1, minimum=0.0)
        checks.boolean("reverse_input", reverse_input)
        self.aux_weights = api.aux_losses(network)
        self.aux_names = tuple(self.aux_weights)
        weighed_by = {w for w in self.aux_weights.values() if isinstance(w, str)}
        if decouple_beta > 0 and "decouple_beta" not in weighed_by:
            raise BadValue(
                "decouple_beta", decouple_beta, "weighs PredRNN-V2's decoupling loss: use model=predrnn_v2", 0.0
            )
        if decouple_beta == 0 and "decouple_beta" in weighed_by:
            raise BadValue(
                "decouple_beta", decouple_beta, "must be > 0 for a network with the decoupling loss (or model=predrnn)", 0.1
            )  # fmt: skip
        unknown = sorted(weighed_by - {"decouple_beta"})
        if unknown:
            raise ConfigError(
                f"model._target_={api.target_of(network)} weighs an auxiliary loss by module.{unknown[0]}, which the "
                "training module has no option of: declare a number or decouple_beta in aux_losses (models/api.py)"
            )
        self.fixed_horizon = api.fixed_horizon(network)
        if self.fixed_horizon and sampling is not None:
            if not isinstance(sampling, FreeRunning):
                rank_zero_info(
                    f"Notice: sampling={type(sampling).__name__} is not used: {type(network).__name__} predicts a "
                    "fixed horizon and takes no teacher mask (sampling=none)"
                )
            sampling = None
        self.fast = FastPath(compile, channels_last, cuda_graph)
        self.network = network
        self.optim = optim
        self.sampling = sampling
        self.configure_evaluation(metrics, baselines, future_frames)
        if future_frames is not None and not api.target_of(network).startswith("predrnn."):
            api.check_outputs(network, future_frames)  # an own network: its outputs checked once, here
        self.conditioning = api.conditioning(network)
        # data units <-> model units and the metric scale, fitted on the training data (docs/data.md)
        if normalization is None:
            self.normalization = Normalization.identity(network.in_channels)
        else:
            self.normalization = Normalization(**normalization)
        if self.normalization.channels != network.in_channels:
            raise ValueError(
                f"normalisation for {self.normalization.channels} channels, network for {network.in_channels}"
            )
        # what rebuilds this module from a checkpoint (checkpoints/native.py); the evaluation
        # settings (metrics, baselines, future frames) come from the run that loads it
        self.save_hyperparameters(ignore=["network", "optim", "sampling", "metrics", "baselines", "future_frames",
                                          "normalization"])  # fmt: skip
        self.hparams["network"] = {"_target_": api.target_of(network), **network.init_args}
        self.hparams["optim"] = optim.as_dict()
        self.hparams["normalization"] = self.normalization.as_dict()
        self.graph_step: GraphedTrainStep | None = None
        self.contract_checked = False
        self.input_length = network.input_length
        self.val_metrics: MetricSet | None = None
        self.test_metrics: MetricSet | None = None
        self.baseline_metrics: dict[str, MetricSet] = {}
        self.val_results: dict[str, Any] = {}
        self.test_results: dict[str, Any] = {}

    def configure_evaluation(
        self, metrics: Mapping[str, Any] | None, baselines: Sequence[str] = DEFAULT_BASELINES,
        future_frames: int | None = None,
    ) -> None:  # fmt: skip
        """What validation and test score: `metrics` (name -> metric config; None: the default
        set), `baselines` and K = `future_frames`. A loaded checkpoint gets the run's own."""
        for name in baselines:
            checks.choice("baselines", name, BASELINES, "[zeros,copy_last]")
        if "extrapolation" in baselines:
            require_pysteps()  # one line naming the extra, before a run starts
        if future_frames is not None:
            checks.integer("future_frames", future_frames, 10, minimum=1)
        self.metric_configs = dict(metrics) if metrics is not None else default_metrics()
        # the training split's climatology (metrics=weather's ACC, filled from the data): kept in checkpoints
        self.climatology = next((c["climatology"] for c in self.metric_configs.values()
                                 if isinstance(c, Mapping) and c.get("climatology") is not None), None)  # fmt: skip
        self.baselines = tuple(baselines)
        self.future_frames = future_frames
        if future_frames is not None:  # every metric built once now: a bad one fails before the run starts
            for stage in ("val", "test"):
                MetricSet(
                    self.metric_configs, future_frames, stage, notices=[], frame_size=tuple(self.network.image_size)
                )

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The climatology the ACC scores against travels with the weights (predrnn-eval adopts it)."""
        if self.climatology is not None:
            checkpoint["climatology"] = self.climatology.state()

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
    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None, **conditioning: Tensor):
        return self.network(self.fast.layout(frames), teacher_mask, **conditioning)

    @override
    def on_fit_start(self) -> None:
        if self.sampling is not None:
            fitted = self.sampling.fit_to_run(self.trainer.max_steps)
            if fitted:
                rank_zero_info(fitted)

    # --- the shared step ---------------------------------------------------------------------
    def split_batch(self, batch: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """(frames, conditioning) of a batch: a tensor of frames, or a dict with `frames` and
        the conditioning the network reads (e.g. `actions`)."""
        if isinstance(batch, Mapping):
            return batch["frames"], {k: batch[k] for k in self.conditioning}
        return batch, {}

    @staticmethod
    def valid_of(batch: Tensor | Mapping[str, Tensor]) -> Tensor | None:
        """The batch's coverage mask (bool (B, T, C, H, W), False where there is no data), or
        None for data without one."""
        return batch.get(VALID) if isinstance(batch, Mapping) else None

    def compute_loss(
        self, frames: Tensor, mask: Tensor | None, training: bool, conditioning: Mapping[str, Tensor] | None = None,
        valid: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:  # fmt: skip
        """(loss, the K = T-J future predictions, auxiliary losses). The reconstruction loss
        covers what the network predicts (a next-frame network: all T-1 outputs; a
        fixed-horizon one: the K future frames); with `valid`, it averages over the valid
        target pixels only."""
        conditioning = dict(conditioning or {})
        if training and self.hparams.reverse_input:
            # the official script also trains on each sequence played backwards
            frames = torch.cat([frames, frames.flip(1)])
            mask = None if mask is None else torch.cat([mask, mask])
            conditioning = {k: torch.cat([v, v.flip(1)]) for k, v in conditioning.items()}
            valid = None if valid is None else torch.cat([valid, valid.flip(1)])
        j = self.input_length
        if self.fixed_horizon:
            first = j  # the first frame it predicts
            layout = self.fast.layout(frames)
            predictions, aux = api.predict_future(self.network, layout, frames.shape[1] - j, **conditioning)
        else:
            first = 1
            predictions, aux = api.split_output(self(frames, mask, **conditioning))
        target = frames[:, first:]
        if not self.contract_checked:
            self.check_contract(predictions, target, aux)
        target_valid = None if valid is None else valid[:, first:]
        loss = reconstruction_loss(predictions, target, self.hparams.loss, target_valid)
        if training:
            compared = api.target_losses(self.network, predictions, target, target_valid)
            self.check_declared(set(compared))
            aux.update(compared)
        for name, value in aux.items():
            loss = loss + self.aux_weight(name) * value
        return loss, predictions[:, j - first :], aux

    def step_losses(
        self, frames: Tensor, mask: Tensor | None, conditioning: Mapping[str, Tensor]
    ) -> tuple[Tensor, ...]:
        """What a training step minimises: (loss, *the auxiliary losses in `aux_names` order) of a
        batch, the coverage mask riding in `conditioning` under `valid`. The whole-step CUDA graph
        captures it and `predrnn-bench` times it, so what is benchmarked is what trains."""
        conditioning = dict(conditioning)
        valid = conditioning.pop(VALID, None)
        loss, _, aux = self.compute_loss(frames, mask, True, conditioning, valid)
        return (loss, *(aux[name] for name in self.aux_names))

    def aux_weight(self, name: str) -> float:
        """The weight of auxiliary loss `name`: the network's number, or the module option it names."""
        weight = self.aux_weights.get(name, 1.0)
        return float(self.hparams[weight]) if isinstance(weight, str) else float(weight)

    def check_contract(self, predictions: Tensor, target: Tensor, aux: Mapping[str, Tensor]) -> None:
        """One line naming the network and what it returned, on its first step, where it broke
        the contract of models/api.py."""
        name = api.target_of(self.network)
        if not isinstance(predictions, Tensor):
            raise ConfigError(f"model._target_={name} returned {type(predictions).__name__}, not a tensor of frames "
                              "(models/api.py)")  # fmt: skip
        if tuple(predictions.shape) != tuple(target.shape):
            what = "frames 1..T-1" if not self.fixed_horizon else f"the {target.shape[1]} frames after the observed"
            raise ConfigError(
                f"model._target_={name} returned shape {tuple(predictions.shape)} where {what} are "
                f"{tuple(target.shape)} (B, frames, C, H, W): see the network contract, models/api.py"
            )
        self.check_declared(set(aux))
        self.contract_checked = True

    def check_declared(self, names: set[str]) -> None:
        """One line where the network returned an auxiliary loss it does not declare."""
        undeclared = sorted(names - set(self.aux_names))
        if undeclared:
            raise ConfigError(f"model._target_={api.target_of(self.network)} returned the auxiliary loss "
                              f"{undeclared[0]!r} it does not declare in aux_losses (models/api.py)")  # fmt: skip

    def training_mask(self, frames: Tensor) -> Tensor | None:
        """The sampling schedule's teacher mask for this step (logged on logging steps)."""
        if self.sampling is None:
            return None
        step = self.global_step
        mask = self.sampling.mask(step, frames.shape[0], frames.shape[1], self.input_length, frames.device)
        if self._trainer is not None and step % self.trainer.log_every_n_steps == 0:
            # only on logging steps: Lightning copies logged floats to the device, a sync
            enc, dec = self.sampling.probabilities(step)
            # the step is logged too: after a resume Lightning's own step column can shift by one
            self.log_dict({"sampling/encoder_p": enc, "sampling/step": float(step)}, on_step=True, on_epoch=False)
            self.log("sampling/decoder_p", dec, on_step=True, on_epoch=False, prog_bar=True)
        return mask

    def shared_step(self, batch: Tensor | Mapping[str, Tensor], stage: str) -> tuple[Tensor, Tensor | None]:
        """Loss and logging for any stage; metrics over the K future frames (val/test)."""
        frames, conditioning = self.split_batch(batch)
        valid = self.valid_of(batch)
        training = stage == "train"
        mask = self.training_mask(frames) if training else None
        if training and self.graph_step is not None:  # forward, backward and Adam: one replay
            inputs = conditioning if valid is None else {**conditioning, VALID: valid}  # the mask rides in the graph
            outputs = self.optimizers().step(closure=lambda: self.graph_step(frames, mask, inputs))
            scheduler = self.lr_schedulers()
            if scheduler is not None:  # fills the learning-rate tensor the next replay reads
                scheduler.step()
            # the graph's outputs are overwritten by the next replay: keep this step's values
            loss, *aux_values = (t.detach().clone() for t in outputs)
            aux, predictions = dict(zip(self.aux_names, aux_values)), None
        else:
            loss, predictions, aux = self.compute_loss(frames, mask, training, conditioning, valid)
        for name, value in aux.items():
            self.log(f"{stage}/{name}_loss", value, on_step=training, on_epoch=not training)
        self.log(f"{stage}/loss", loss, on_step=training, on_epoch=not training, prog_bar=training)
        if not training:
            times = batch.get(TIMES) if isinstance(batch, Mapping) else None
            self.score(frames, predictions, stage, valid, times)
        return loss, predictions

    def score(
        self, frames: Tensor, predictions: Tensor, stage: str, valid: Tensor | None = None, times: Tensor | None = None
    ) -> None:
        """Feed the K future frames (`predictions`, (B, K, C, H, W)) and, at test, the baselines'
        forecasts to the metrics, in data units; each metric takes its own scale from there. With `valid`, every forecast and
        the target are NaN where the truth has no coverage, and the baselines observe NaN where
        the observed frames have none. `times` (B, T): each frame's valid time, for the metrics
        that take them (the ACC's climatology)."""
        j = self.input_length
        future_times = None if times is None else times[:, j:]
        decode = self.normalization.decode
        hole = None if valid is None else ~valid[:, j:]
        target, future = no_coverage(decode(frames[:, j:]), hole), no_coverage(decode(predictions), hole)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        metrics.update(future, target, self.normalization, future_times)
        if stage == "test":  # other forecasts of the same sequences
            observed = decode(frames[:, :j])
            if valid is not None:
                observed = no_coverage(observed, ~valid[:, :j])
            for name, baseline in self.baseline_metrics.items():
                forecast = BASELINES[name](observed, target.shape[1], self.normalization.low)
                baseline.update(no_coverage(forecast, hole), target, self.normalization, future_times)

    @override
    def training_step(self, batch, batch_idx: int) -> Tensor:
        return self.shared_step(batch, "train")[0]

    @override
    def validation_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        loss, predictions = self.shared_step(batch, "val")
        return {"loss": loss, "predictions": predictions}

    @override
    def test_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        loss, predictions = self.shared_step(batch, "test")
        return {"loss": loss, "predictions": predictions}

    # --- metrics -----------------------------------------------------------------------------
    def _metric_set(self, stage: str, quiet: bool = False) -> MetricSet:
        if self.future_frames is None:
            raise RuntimeError("PredRNNModule needs future_frames (K) to score validation and test")
        notices: list[str] = []
        norm = self.normalization
        data_range = (float(norm.low.min()), float(norm.high.max()))  # in data units (uint8 data: [0, 1])
        metrics = MetricSet(self.metric_configs, self.future_frames, stage, notices, data_range).to(self.device)
        for notice in [] if quiet else notices:
            rank_zero_info(notice)
        return metrics

    @override
    def on_validation_epoch_start(self) -> None:
        self.val_metrics = self._metric_set("val")

    @override
    def on_test_epoch_start(self) -> None:
        self.test_metrics = self._metric_set("test")
        self.baseline_metrics = {name: self._metric_set("test", quiet=True) for name in self.baselines}

    def _summarise(self, metrics: MetricSet, stage: str) -> dict[str, Any]:
        result = metrics.compute()
        first = next((k for k in result if not k.endswith("_per_frame")), None)
        for name, value in result.items():
            if name.endswith("_per_frame") or name == "num_sequences":
                continue  # the progress bar shows the first validation metric (MSE by default)
            if name == "not_scored":
                continue  # {metric: reason}, for metrics.json
            value = float("nan") if value is None else float(value)  # logged as NaN: the guard and monitors see it
            self.log(f"{stage}/{name}", value, sync_dist=False, prog_bar=stage == "val" and name == first)
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
        for name, values in self.test_results.items():
            if name.endswith("_per_frame"):
                for k, v in enumerate(values, start=1):
                    if v is not None:
                        self.log(f"test/{name.removesuffix('_per_frame')}_frame_{k}", float(v))

    # --- optimisation ------------------------------------------------------------------------
    @override
    def configure_optimizers(self):
        device = self.run_device()
        graphed = self.fast.graphed(device)
        steps = self.trainer.max_steps if self.trainer.max_steps > 0 else self.trainer.estimated_stepping_batches
        optimizer = self.optim.build(self.parameters(), fused=device.type == "cuda", capturable=graphed)
        if graphed:  # the coverage mask rides in the conditioning, copied in on each replay
            self.graph_step = self.fast.train_step(self.step_losses, list(self.parameters()), optimizer)
            optimizer = self.fast.optimizer(optimizer, device)
        scheduler = self.optim.schedule(optimizer, steps)
        if scheduler is None:
            return optimizer
        if graphed:  # manual optimisation: the graphed step steps the schedule itself
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
