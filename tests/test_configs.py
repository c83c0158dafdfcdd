"""Every experiment composes from the real configs and instantiates; values match the papers."""

import pytest
from hydra.utils import instantiate

from conftest import compose
from predrnn.models import PredRNN
from predrnn.training.module import PredRNNModule

EXPERIMENTS = [
    "paper_mnist",
    "official_mnist",
    "predrnn_v2_mnist",
    "convlstm_mnist",
    "smoke",
    "paper_mnist_fast",
]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_instantiates(experiment, tmp_path):
    cfg = compose("train", tmp_path, [f"experiment={experiment}"])
    module = instantiate(cfg.module)
    assert isinstance(module, PredRNNModule) and isinstance(module.network, PredRNN)
    dm = instantiate(cfg.data)
    assert dm.total_length == 20 and dm.input_length == 10
    schedule = instantiate(cfg.sampling)
    assert 0.0 <= schedule.probabilities(0)[1] <= 1.0
    for c in cfg.callbacks.values():
        if c is not None:
            instantiate(c)


def test_paper_settings(tmp_path):
    cfg = compose("train", tmp_path, ["experiment=paper_mnist"])
    assert cfg.model.hidden_channels == [128] * 4 and cfg.model.kernel_size == 5 and cfg.model.patch_size == 4
    assert cfg.model.layer_norm is True and cfg.module.loss == "l1_l2" and cfg.module.lr == 1e-3
    assert cfg.data.batch_size == 8 and cfg.trainer.max_steps == 80_000
    official = compose("train", tmp_path, ["experiment=official_mnist"])
    assert official.module.loss == "mse" and official.module.lr == 3e-4
    assert official.module.reverse_input is True and official.model.layer_norm is False
    v2 = compose("train", tmp_path, ["experiment=predrnn_v2_mnist"])
    assert v2.module.decouple_beta == 0.1 and v2.sampling.alpha == 2500.0 and v2.module.lr == 1e-4
    assert v2.sampling._target_.endswith("ReverseScheduledSampling")
    conv = compose("train", tmp_path, ["experiment=convlstm_mnist"])
    assert conv.model.cell == "convlstm"


@pytest.mark.parametrize("curve", ["linear", "exponential", "inverse_sigmoid", "reverse", "none", "teacher_forcing"])
def test_sampling_group(curve, tmp_path):
    cfg = compose("train", tmp_path, [f"sampling={curve}"])
    assert instantiate(cfg.sampling).seed == cfg.seed


def test_overrides_reach_constructors(tmp_path):
    cfg = compose(
        "train",
        tmp_path,
        ["model.hidden_channels=[16,24,8]", "model=convlstm", "module.lr=5e-4", "data.speed=[2,5]"],
    )
    module = instantiate(cfg.module)
    assert module.network.widths == [16, 24, 8] and not module.network.uses_memory
    assert module.hparams.lr == 5e-4
    assert instantiate(cfg.data).hparams.speed == [2, 5]
