"""`predrnn-eval ckpt_path=… [data.test_file=…]`: test metrics of a checkpoint.

Writes metrics.json (every configured metric, its per-frame list and the baselines'), the
per-frame plot and media into the run folder, and prints a per-frame table. For data with times
(data=xarray) metrics.json also lists each frame's lead time (`lead_times_minutes`) and the
table labels the frames "+10 min" …; data of other variables than the checkpoint's (its
`data_description`) is refused in one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from predrnn import checks
from predrnn.cli.entry import Stopped, entry_point, report_errors
from predrnn.config import instantiate_group
from predrnn.errors import DataError

# what `predrnn-eval` takes from the training run of the checkpoint unless the command sets it
# (`make eval`, `predrnn-eval ckpt_path=last`: the run's own test set, metrics and baselines)
FROM_THE_RUN = ("data", "metrics", "baselines")


def evaluate(cfg: DictConfig) -> dict:
    import pytorch_lightning as pl

    # torch and Lightning only now: a config error is answered before them (cli/entry.py)
    from predrnn.build import build_data, described_network, evaluation_settings
    from predrnn.checkpoints import open_checkpoint, resolve_checkpoint, single_run_checkpoints
    from predrnn.threads import share_cpus
    from predrnn.training.callbacks import PredictionMedia, TestReport
    from predrnn.training.trainer import build_trainer

    checks.integer("num_media", cfg.get("num_media"), 2, minimum=0)
    share_cpus(1)
    ckpt = resolve_checkpoint(cfg.ckpt_path, single_run_checkpoints(cfg.paths.log_dir), "under logs/train")
    adopted = adopt_the_runs_settings(cfg, Path(ckpt))
    if adopted:
        print(f"predrnn-eval: {adopted}")
    opened = open_checkpoint(
        ckpt, cfg, compile=cfg.module.compile, channels_last=cfg.module.channels_last,
        describe=lambda: described_network(cfg),
    )  # fmt: skip
    print(f"predrnn-eval: checkpoint {opened.describe()}")
    module = opened.module
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    net = module.network
    # the model decides the observed length, the frame shape and the units; the config the rest
    datamodule = build_data(cfg, input_length=net.input_length)
    _check_variables(datamodule, module.hparams.get("data_description"), ckpt)
    datamodule.adopt(net, module.normalization)
    if opened.state.get("climatology") is not None and hasattr(datamodule, "adopt_climatology"):
        from predrnn.data.climatology import Climatology  # the ACC's, fitted on the run's training years

        datamodule.adopt_climatology(Climatology.from_state(opened.state["climatology"]))
    _check_kind_of_values(datamodule, module.normalization, ckpt)
    module.configure_evaluation(**evaluation_settings(cfg, datamodule))
    datamodule.check_sources(("test",))  # a bad test file fails here, before the run writes anything
    test_range = datamodule.value_range("test")
    if test_range is not None:  # float data: far outside the checkpoint's range is an error, beyond it a warning
        h = datamodule.hparams
        key = "test_path" if h.get("test_path") else "path"
        for line in module.normalization.check_range(*test_range, f"the test split of data.{key}={h.get(key)}"):
            print(f"predrnn-eval: {line}", file=sys.stderr)
    output_dir = Path(cfg.paths.output_dir)
    report = TestReport(dirpath=str(output_dir), extra={"checkpoint": ckpt})
    callbacks = [
        report,
        PredictionMedia(num_sequences=cfg.num_media, dirpath=str(output_dir), step=opened.state.get("global_step")),
    ]
    loggers = [instantiate_group(c, "logger") for c in cfg.get("logger", {}).values() if c is not None]
    trainer: pl.Trainer = build_trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    module.fast.prepare(net, trainer.strategy.root_device)  # before the run writes anything
    try:
        trainer.test(module, datamodule=datamodule, verbose=False)  # TestReport prints the table
    except Stopped as stop:  # Ctrl-C / SIGTERM: exit 130 / 143 (entry_point), saying what is missing
        written = report.path is not None and report.path.is_file()
        missing = "its media and plots may be missing" if written else "metrics.json was not written"
        stop.not_written = f"the test did not finish: {missing} ({output_dir})"
        raise
    if not module.test_results.get("num_sequences"):
        raise DataError(
            "the test set holds no sequences: give a test file with some (data.test_file) or data.test_size > 0"
        )
    return module.test_results


def _given(group: str) -> bool:
    """Whether the command line sets `group` or a key of it (`data=…`, `data.test_size=…`)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        task = HydraConfig.get().overrides.task
    except ValueError:
        return True  # composed outside an entry point (tests): nothing is adopted
    keys = [o.lstrip("+~").split("=")[0] for o in task]
    return any(k == group or k.startswith(f"{group}.") for k in keys)


def run_settings(ckpt: Path) -> tuple[DictConfig, Path] | None:
    """The composed config of the training run that wrote `ckpt` (<run>/checkpoints/x.ckpt),
    resolved, and the folder it ran from; None for a checkpoint outside a run folder."""
    from omegaconf import OmegaConf

    run = ckpt.resolve().parent.parent
    config, hydra = run / ".hydra" / "config.yaml", run / ".hydra" / "hydra.yaml"
    if ckpt.resolve().parent.name != "checkpoints" or not config.is_file():
        return None
    try:
        cfg = OmegaConf.load(config)
        cwd = Path(str(OmegaConf.load(hydra).hydra.runtime.cwd)) if hydra.is_file() else run
        settings = OmegaConf.create({k: OmegaConf.to_container(cfg, resolve=True)[k] for k in FROM_THE_RUN if k in cfg})
    except Exception:  # a config that doesn't resolve outside its run: nothing adopted
        return None
    return settings, cwd


def _absolute(value, cwd: Path):
    """A relative path of the run's data (as it ran, from `cwd`) made absolute; others as they are."""
    relative = isinstance(value, str) and value and "://" not in value and not Path(value).is_absolute()
    if relative and (cwd / value).exists():
        return str(cwd / value)
    return value


def adopt_the_runs_settings(cfg: DictConfig, ckpt: Path) -> str | None:
    """`predrnn-eval` of a training run's checkpoint scores what the run scored unless told
    otherwise: the run's data settings (its test set: size, generator, file or split), metrics
    and baselines, where the command gives none of that group (`data.*=…` chooses another test
    set). Returns the line that says so, or None."""
    from omegaconf import open_dict

    found = run_settings(ckpt)
    if found is None:
        return None
    settings, cwd = found
    # a metric set chosen on the command line (metrics=nowcast) brings the baselines it is
    # scored beside, so the run's baselines are not taken then either
    taken = [g for g in FROM_THE_RUN if g in settings and not _given(g)
             and not (g == "baselines" and _given("metrics"))]  # fmt: skip
    if not taken:
        return None
    with open_dict(cfg):
        for group in taken:
            value = settings[group]
            if group == "data":
                value = {k: _absolute(v, cwd) for k, v in value.items()}
            cfg[group] = value
    run = ckpt.resolve().parent.parent
    return (
        f"the {', '.join(taken)} settings of its training run ({run / '.hydra' / 'config.yaml'}): the run's own "
        f"test set{' of ' + str(cfg.data.get('test_size')) + ' sequences' if cfg.data.get('test_size') else ''}; "
        "data.…=… on the command line chooses another"
    )


def _check_kind_of_values(datamodule, normalization, ckpt: str) -> None:
    """uint8 data for a model trained on float data (or the reverse) would be scored in the
    wrong units (a uint8 copy of float dBZ reads as [0, 1]): refused in one line naming the data
    arguments the checkpoint was trained with (its run's config), where they are known."""
    data_uint8 = getattr(datamodule, "uint8", None)
    if data_uint8 is None or bool(data_uint8) == normalization.uint8:
        return
    have, trained = ("uint8", "float") if data_uint8 else ("float", "uint8")
    data_args = _trained_data_arguments(Path(ckpt))
    fix = (
        f"give the data it was trained with: {data_args}"
        if data_args
        else f"give the data it was trained with ({trained} frames: data=arrays data.path=… for your own data)"
    )
    raise DataError(
        f"ckpt_path={ckpt} was trained on other data ({trained} frames; these are {have} frames, "
        f"so its units would not match): {fix}"
    )


def _trained_data_arguments(ckpt: Path) -> str | None:
    """The data overrides of the training run that wrote `ckpt` (`data=arrays data.path=…`), or None."""
    from omegaconf import OmegaConf

    from predrnn.command_line import override_text, shell_word

    run = ckpt.resolve().parent.parent
    overrides = run / ".hydra" / "overrides.yaml"
    if ckpt.resolve().parent.name != "checkpoints" or not overrides.is_file():
        return None
    try:
        given = [str(o) for o in OmegaConf.load(overrides)]
    except Exception:
        return None
    data = [o for o in given if o.lstrip("+~").split("=")[0].split(".")[0] == "data"]
    if not data:
        return None
    cwd = run_settings(ckpt)
    words = []
    for item in data:
        key, sep, value = item.partition("=")
        absolute = _absolute(value, cwd[1]) if cwd is not None else value
        words.append(override_text(key, absolute) if sep and absolute != value else shell_word(item))
    return " ".join(words)


def _check_variables(datamodule, trained: dict | None, ckpt: str) -> None:
    """A checkpoint trained on other variables than the data's (t2m for a model of reflectivity)
    would be scored in the wrong units: refused in one line naming both."""
    from predrnn.data.series_input import check_same_variables

    describe = getattr(datamodule, "description", None)
    given = describe() if callable(describe) else None
    if not trained or not given or trained.get("variables") is None or given.get("variables") is None:
        return
    where = f"data.path={given.get('path') or datamodule.hparams.get('path')}"
    check_same_variables(list(trained["variables"]), list(given["variables"]), f"ckpt_path={ckpt}", where)


task = report_errors("predrnn-eval")(evaluate)  # the Hydra task, for in-process use
main = entry_point("eval", "predrnn-eval", evaluate)


if __name__ == "__main__":
    main()
