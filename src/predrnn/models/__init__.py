"""Plain PyTorch networks of the PredRNN family (no Lightning, no Hydra). What a network must
offer is in `models/api.py`; each network is one file here and one YAML in `conf/model/`."""

from predrnn.models.cells import SpatioTemporalLSTMCell
from predrnn.models.convlstm import ConvLSTM, ConvLSTMCell
from predrnn.models.losses import decoupling_loss, reconstruction_loss
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.predrnn import PredRNN
from predrnn.models.predrnn_v2 import PredRNNV2

__all__ = [
    "ConvLSTM",
    "ConvLSTMCell",
    "PredRNN",
    "PredRNNV2",
    "SpatioTemporalLSTMCell",
    "decoupling_loss",
    "fold_patches",
    "reconstruction_loss",
    "unfold_patches",
]
