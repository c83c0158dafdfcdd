"""The third-party lines a normal run does not need, dropped precisely (`verbose=true` shows them all)."""

from __future__ import annotations

import logging
import os
import warnings

# Third-party lines a normal run doesn't need, matched precisely (verbose=true shows them all).
NOISE_WARNINGS = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),  # Lightning's _pytree on torch >= 2.10
    # an epoch shorter than trainer.log_every_n_steps: the steps are logged all the same
    (Warning, r"The number of training batches \(\d+\) is smaller than the logging interval"),
    # a run that ends before its first validation: last.ckpt is still written (FinalCheckpoint)
    (Warning, r"`ModelCheckpoint\(monitor=.*could not find the monitored key"),
    # the test after fit uses the best checkpoint of the one callback that keeps a best (the other saves last.ckpt)
    (Warning, r"`\.test\(ckpt_path=\"best\"\)` is called with Trainer configured with multiple `ModelCheckpoint`"),
    # predrnn's resume is exact (batches numbered by position in the stream, the teacher mask a function of
    # the step): LastCheckpoint says so in one true line instead
    (Warning, r"You're resuming from a checkpoint that ended before the epoch ended and your dataloader is"),
    # predrnn's metrics are torchmetrics states reduced over DDP; the logged means are rank zero's (docs/metrics.md)
    (Warning, r"It is recommended to use `self\.log\(.*sync_dist=True\)`"),
    # the ONNX exporter on constant folding (predrnn exports the network in eval mode, its weights as constants)
    (Warning, r"It is recommended that constant folding be turned off"),
    (Warning, r".*[Cc]onstant folding"),
)
NOISE_LOGS = {
    # advertisements (litlogger, litmodels), the accelerator inventory (the run's device is in
    # summary.json), a note that our own summary replaces Lightning's
    "pytorch_lightning.utilities.rank_zero": (
        "💡 tip:", "litlogger", "litmodels", "gpu available:", "tpu available:", "hpu available:",
        "skipping setting a default `modelsummary`",
    ),
    "lightning_fabric.utilities.rank_zero": ("gpu available:", "tpu available:"),
    # every checkpoint predrnn reads is read with weights_only=True (SafeCheckpointIO) whatever this default says
    "pytorch_lightning.trainer.connectors.checkpoint_connector": ("`weights_only` was not set",),
    # the ONNX exporter, once per torchvision operator it would have registered
    "torch.onnx._internal.exporter._registration": ("torchvision is not installed",),
    "onnxscript.optimizer._constant_folding": ("constant folding",),
}  # fmt: skip


class _DropMessages(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = tuple(f.lower() for f in fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().lower()
        return not any(f in message for f in self.fragments)


def quiet_console() -> None:
    """Drop the known third-party noise (and nothing else) from warnings and logs."""
    for category, pattern in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    for name, fragments in NOISE_LOGS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(fragments))


def quiet_unless_verbose(verbose: bool) -> None:
    """The quiet console of every entry point and training run: `quiet_console`, and wandb
    silent (the closing summary says where the wandb run is); `verbose` (`verbose=true`), or
    HYDRA_FULL_ERROR=1, shows everything."""
    if verbose or os.environ.get("HYDRA_FULL_ERROR") == "1":
        return
    quiet_console()
    os.environ.setdefault("WANDB_SILENT", "true")
