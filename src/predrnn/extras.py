"""The optional capabilities and the pip extra that installs each (pyproject.toml's
`[project.optional-dependencies]`, docs/install.md). The core installs what `make train` needs;
an optional library is imported through `require`, so a missing one is one line naming its extra
(`MissingExtra`, exit code 2 at an entry point) rather than a traceback. Hydra's launcher and
sweeper plugins are configs rather than imports: `check_hydra_plugins` asks for them at the
entry point, before Hydra composes."""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from predrnn.errors import MissingExtra


@dataclass(frozen=True)
class Extra:
    """One pip extra: what it adds, in words, and the modules it installs (module -> pip package)."""

    adds: str
    modules: dict[str, str]


# every extra, named as in pyproject.toml (tests/test_extras.py checks the two agree)
EXTRAS = {
    "formats": Extra("the HDF5, Zarr and video readers", {"h5py": "h5py", "zarr": "zarr", "av": "av"}),
    "sevir": Extra("the SEVIR catalog and HDF5 readers", {"pandas": "pandas", "h5py": "h5py"}),
    "xarray": Extra(
        "xarray and its netCDF / Zarr readers",
        {"xarray": "xarray", "h5netcdf": "h5netcdf", "netCDF4": "netCDF4", "pandas": "pandas"},
    ),
    "bair": Extra("the tfrecord package", {"tfrecord": "tfrecord"}),
    "nowcast": Extra("pySTEPS and OpenCV", {"pysteps": "pysteps", "cv2": "opencv-python-headless"}),
    "export": Extra("the ONNX exporter", {"onnx": "onnx", "onnxscript": "onnxscript"}),
    "tensorboard": Extra("TensorBoard", {"tensorboard": "tensorboard"}),
    "optuna": Extra(
        "Hydra's Optuna sweeper",
        {"hydra_plugins.hydra_optuna_sweeper": "hydra-optuna-sweeper", "optuna": "optuna", "sqlalchemy": "sqlalchemy"},
    ),
    "joblib": Extra("Hydra's joblib launcher", {"hydra_plugins.hydra_joblib_launcher": "hydra-joblib-launcher"}),
    "slurm": Extra(
        "Hydra's submitit (SLURM) launcher",
        {"hydra_plugins.hydra_submitit_launcher": "hydra-submitit-launcher"},
    ),
}


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """`module` imported, or a MissingExtra naming `extra`: "{purpose} needs {what the extra
    adds} ({package} is missing): pip install 'predrnn[{extra}]'"."""
    packages = EXTRAS[extra].modules
    if module not in packages:
        raise KeyError(f"{module} is not a module of the {extra} extra (predrnn/extras.py)")
    try:
        return importlib.import_module(module)
    except ImportError as err:
        name = err.name or module
        missing = packages.get(name, packages[module] if module == name or module.startswith(f"{name}.") else name)
        raise MissingExtra(
            f"{purpose} needs {EXTRAS[extra].adds} ({missing} is missing): pip install 'predrnn[{extra}]'"
        ) from None


# Hydra's config options that only a plugin provides -> the extra that installs the plugin
PLUGIN_OPTIONS = {
    "hydra/sweeper/optuna": "optuna",
    "hydra/launcher/joblib": "joblib",
    "hydra/launcher/submitit_local": "slurm",
    "hydra/launcher/submitit_slurm": "slurm",
}
# the overrides that can choose a launcher or a sweeper
_CHOOSERS = ("hydra/launcher", "hydra/sweeper", "hparams_search")


def check_hydra_plugins(config_name: str, args: Sequence[str], conf_dir: str) -> None:
    """A MissingExtra when the overrides choose a launcher or sweeper (`hydra/launcher=joblib`,
    `hydra/launcher=slurm`, `hparams_search=optuna`) whose plugin, or a library it runs, is not
    installed; without it Hydra says only that it "could not find" the config, or fails inside
    the sweep. Composes only when such an override is given."""
    chosen = [a.lstrip("+") for a in args if not a.startswith(("-", "~")) and "=" in a and "," not in a]
    chosen = [a for a in chosen if a.split("=", 1)[0] in _CHOOSERS]
    if not chosen:
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    purpose = " ".join(chosen)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
            cfg = compose(config_name, overrides=chosen, return_hydra_config=True)
    except Exception as err:  # the plugin's config is not there, or another mistake (the other checks say)
        found = re.search(r"Could not (?:find|load) '([\w/.-]+)'", str(err))
        extra = PLUGIN_OPTIONS.get(found.group(1)) if found else None
        if extra is not None:
            for module in EXTRAS[extra].modules:
                require(module, extra, purpose)
        return
    finally:
        GlobalHydra.instance().clear()
    for part in ("launcher", "sweeper"):
        target = str(cfg.hydra[part].get("_target_", ""))
        for extra in set(PLUGIN_OPTIONS.values()):
            if any(target.startswith(f"{m}.") for m in EXTRAS[extra].modules):
                for module in EXTRAS[extra].modules:
                    require(module, extra, purpose)
