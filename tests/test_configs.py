"""Every experiment composes from the real configs and instantiates; values match the papers."""

from pathlib import Path

import pytest
import yaml
from hydra.utils import get_class, instantiate

from helpers import compose
from predrnn.build import build
from predrnn.models import api
from predrnn.training.module import PredRNNModule

CONF = Path(__file__).resolve().parents[1] / "conf"
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
    dm, module = build(cfg)
    assert isinstance(module, PredRNNModule) and type(module.network) is get_class(cfg.model._target_)
    api.check_network(module.network)  # keeps the network contract (one line naming what it lacks, if not)
    assert dm.total_length == 20 and dm.input_length == 10 and module.network.input_length == 10
    schedule = instantiate(cfg.sampling)
    assert 0.0 <= schedule.probabilities(0)[1] <= 1.0
    for c in cfg.callbacks.values():
        if c is not None:
            instantiate(c)


def test_paper_settings(tmp_path):
    cfg = compose("train", tmp_path, ["experiment=paper_mnist"])
    assert cfg.model.hidden_channels == [128] * 4 and cfg.model.kernel_size == 5 and cfg.model.patch_size == 4
    assert cfg.model.layer_norm is True and cfg.module.loss == "l1_l2" and cfg.optim.lr == 1e-3
    assert cfg.data.batch_size == 8 and cfg.trainer.max_steps == 80_000
    official = compose("train", tmp_path, ["experiment=official_mnist"])
    assert official.module.loss == "mse" and official.optim.lr == 3e-4
    assert official.module.reverse_input is True and official.model.layer_norm is False
    v2 = compose("train", tmp_path, ["experiment=predrnn_v2_mnist"])
    assert v2.module.decouple_beta == 0.1 and v2.sampling.alpha == 2500.0 and v2.optim.lr == 1e-4
    assert v2.sampling._target_.endswith("ReverseScheduledSampling")
    conv = compose("train", tmp_path, ["experiment=convlstm_mnist"])
    assert conv.model._target_ == "predrnn.models.ConvLSTM"


@pytest.mark.parametrize("curve", ["linear", "exponential", "inverse_sigmoid", "reverse", "none", "teacher_forcing"])
def test_sampling_group(curve, tmp_path):
    cfg = compose("train", tmp_path, [f"sampling={curve}"])
    assert instantiate(cfg.sampling).seed == cfg.seed


def test_overrides_reach_constructors(tmp_path):
    cfg = compose(
        "train",
        tmp_path,
        ["model.hidden_channels=[16,24,8]", "model=convlstm", "optim.lr=5e-4", "optim=adamw", "data.speed=[2,5]"],
    )
    dm, module = build(cfg)
    assert module.network.widths == [16, 24, 8] and type(module.network).__name__ == "ConvLSTM"
    assert module.optim.lr == 5e-4 and module.optim.name == "adamw" and module.hparams.optim["lr"] == 5e-4
    assert dm.hparams.speed == [2, 5]


def test_cudnn_autotuning_on_for_gpu_configs(tmp_path):
    """The fast experiment and the GPU trainers ask Lightning for cuDNN autotuning (static
    shapes); the default leaves torch's setting alone. The Trainer really applies it."""
    import torch

    assert compose("train", tmp_path, []).trainer.benchmark is None
    for overrides in (["experiment=paper_mnist_fast"], ["trainer=gpu"], ["trainer=ddp"]):
        assert compose("train", tmp_path, overrides).trainer.benchmark is True, overrides
    cfg = compose("train", tmp_path, ["experiment=paper_mnist_fast", "trainer.accelerator=cpu", "logger=none"])
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = before


@pytest.mark.parametrize("search", ["sampling_curves", "depth_width", "recipe"])
def test_grid_sweeps_name_real_keys_and_valid_values(search, tmp_path):
    """Every value of a grid sweep composes with the paper experiment and builds the module,
    so a sweep can't fail on a typo after its first jobs have run."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from predrnn.launch import Launch
    from predrnn.validation import validate_train

    cfg = compose("train", tmp_path, [f"hparams_search={search}"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    sweeps = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    for sweep in sweeps:
        values = list(sweep.sweep_string_iterator())
        assert len(values) >= 2, sweep
        for value in values:
            job = compose("train", tmp_path, ["experiment=paper_mnist", f"{sweep.key_or_group}={value}"])
            validate_train(job, Launch())
            build(job)


def test_speed_fast_is_the_fast_experiment_for_any_recipe(tmp_path):
    """`speed=fast` turns on every switch of the fast path; paper_mnist_fast is exactly
    paper_mnist with it, and the official recipe gets the same switches."""
    from omegaconf import OmegaConf

    def plain(overrides):
        cfg = compose("train", tmp_path, overrides)
        cfg = OmegaConf.to_container(cfg, resolve=False)
        cfg.pop("hydra")
        return cfg

    fast = plain(["experiment=paper_mnist_fast"])
    assert fast == plain(["experiment=paper_mnist", "speed=fast"])
    assert fast["module"]["cuda_graph"] and fast["module"]["channels_last"] and fast["module"]["compile"] == "default"
    assert fast["trainer"]["precision"] == "bf16-mixed" and fast["trainer"]["benchmark"] is True
    paper = plain(["experiment=paper_mnist"])
    assert paper["module"]["cuda_graph"] is False and paper["trainer"]["precision"] == "32-true"
    assert fast["model"] == paper["model"] and fast["sampling"] == paper["sampling"]
    official = plain(["experiment=official_mnist", "speed=fast"])
    assert official["module"]["loss"] == "mse" and official["module"]["cuda_graph"] is True
    module = build(compose("train", tmp_path, ["experiment=official_mnist", "speed=fast"]))[1]
    assert module.fast.cuda_graph and module.fast.compile == "default" and module.fast.channels_last


# --- every experiment file ----------------------------------------------------------------------
def test_every_experiment_composes_with_keys_its_groups_have():
    """Each conf/experiment/*.yaml (found in the folder, no list kept here) composes, and the
    model: / sampling: keys it sets are keys of the network and schedule it picks (a misspelt
    key would otherwise reach nothing)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    names = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
    assert len(names) > 80 and "weatherbench_mv_4_28_s6_mau" in names
    wrong, known = [], {}
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for name in names:
            cfg = hydra_compose("train", overrides=[f"experiment={name}"])
            assert cfg.data.total_length > cfg.data.input_length, name
            own = yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text()) or {}
            for group in ("model", "sampling"):
                chosen = _chosen(name, group)
                if chosen is None or not own.get(group):
                    continue
                if (group, chosen) not in known:
                    known[group, chosen] = set(hydra_compose("train", overrides=[f"{group}={chosen}"])[group])
                extra = set(own[group]) - known[group, chosen]
                if extra:
                    wrong.append(f"{name}: {group} keys {sorted(extra)} are not in {group}={chosen}")
    GlobalHydra.instance().clear()
    assert not wrong, wrong


def _chosen(name: str, group: str) -> str | None:
    """The option an experiment (or the experiment it extends) picks for a group."""
    own = yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text()) or {}
    for entry in own.get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                if key.split()[-1].strip("/") == group:
                    return value
        elif isinstance(entry, str) and (CONF / "experiment" / f"{entry}.yaml").is_file():
            found = _chosen(entry, group)
            if found is not None:
                return found
    return None
