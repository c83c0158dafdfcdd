"""Plain PyTorch models of the PredRNN papers (no Lightning, no Hydra)."""

from predrnn.models.cells import ConvLSTMCell, SpatioTemporalLSTMCell
from predrnn.models.losses import decoupling_loss, reconstruction_loss
from predrnn.models.network import PredRNN
from predrnn.models.patching import fold_patches, unfold_patches

__all__ = [
    "ConvLSTMCell",
    "PredRNN",
    "SpatioTemporalLSTMCell",
    "decoupling_loss",
    "fold_patches",
    "reconstruction_loss",
    "unfold_patches",
]
