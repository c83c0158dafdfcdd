"""`--help` and `--version` of every entry point (README, "Entry points").

`--help` says what the command would run on this machine (the config composed from the given
overrides, the preset `predrnn-train` picks included) and lists what exists: experiments,
models, metric sets and baselines, each with one line. A config's line is the first comment
line of its file (after `# @package`), a baseline's the first line of its function's
docstring, so nothing here keeps a list by hand. Nothing imports torch to answer."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from predrnn.config_groups import CONF_DIR

BASELINES_FILE = Path(__file__).resolve().parents[1] / "baselines.py"
# what each entry point lists (the groups that change what it does)
LISTED = {
    "train": ("experiment", "model", "data", "metrics", "sampling", "trainer"),
    "eval": ("model", "data", "metrics"),
    "predict": ("model",),
    "export": ("model",),
    "convert": ("model",),
}
WIDTH = 100


def version_line(prog: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("predrnn")
    except PackageNotFoundError:
        import predrnn

        number = predrnn.__version__
    return f"{prog} (predrnn {number})"


def description(path: Path) -> str:
    """The first comment line of a config file (after `# @package …`), without the `#`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        text = line.strip()
        if text.startswith("# @package"):
            continue
        if text.startswith("#"):
            return text.lstrip("#").strip()
        if text:
            return ""
    return ""


def options(group: str, folders: Sequence[Path] = ()) -> list[tuple[str, str]]:
    """(name, one line) of every option of config `group` (predrnn's and the search path's)."""
    found: dict[str, str] = {}
    for folder in (CONF_DIR, *folders):
        for path in sorted((folder / group).glob("*.yaml")):
            found.setdefault(path.stem, description(path))
    return sorted(found.items())


def baselines() -> list[tuple[str, str]]:
    """(name, one line) of every baseline of predrnn/baselines.py, read from its source (the
    BASELINES table and each function's docstring), so that the help imports no torch."""
    tree = ast.parse(BASELINES_FILE.read_text(encoding="utf-8"))
    docs = {n.name: (ast.get_docstring(n) or "").split("\n")[0] for n in tree.body if isinstance(n, ast.FunctionDef)}
    for node in tree.body:
        named = isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "BASELINES" for t in node.targets)
        if named and isinstance(node.value, ast.Dict):
            return [
                (k.value, docs.get(getattr(v, "id", ""), ""))
                for k, v in zip(node.value.keys, node.value.values, strict=True)
                if isinstance(k, ast.Constant)
            ]
    return []


def overrides_first(args: list[str]) -> list[str]:
    """The overrides before Hydra's flags: `--info` (and `--cfg`) take a value, and would take
    an override after them as that value (`--info experiment=cpu_quick`)."""
    is_override = [not a.startswith("-") and ("=" in a or a.startswith("~")) for a in args]
    return [a for a, o in zip(args, is_override, strict=True) if o] + [
        a for a, o in zip(args, is_override, strict=True) if not o
    ]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _list(title: str, items: list[tuple[str, str]]) -> list[str]:
    if not items:
        return []
    pad = max(len(name) for name, _ in items) + 2
    return [title, *(f"  {name:{pad}}{_clip(line, WIDTH - pad - 2)}".rstrip() for name, line in items), ""]


def _compose(config_name: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=overrides, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def _device(trainer) -> str:
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator != "auto":
        return accelerator
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu (no GPU here)"


def _what_runs(cfg, config_name: str) -> list[str]:
    """The composed config in a few lines: what the command would do with these overrides."""
    choices = cfg.hydra.runtime.choices
    lines = []
    if config_name == "train":
        experiment = choices.get("experiment")
        if experiment:
            lines.append(f"experiment={experiment}: {description(CONF_DIR / 'experiment' / f'{experiment}.yaml')}")
    model, data = cfg.get("model", {}), cfg.get("data", {})
    if config_name in ("train", "eval"):
        net = f"model={choices.get('model')}"
        widths = model.get("hidden_channels")
        if widths is not None:
            net += f": {len(widths)} × {'/'.join(str(w) for w in dict.fromkeys(widths))} hidden channels"
        for key in ("kernel_size", "patch_size", "layer_norm"):
            if model.get(key) is not None:
                net += f", {key} {model.get(key)}"
        lines.append(net if config_name == "train" else net + " (used only for a checkpoint without settings)")
        size = data.get("image_size")
        shown = [f"data={choices.get('data')}"]
        for key in ("image_size", "input_length", "total_length", "batch_size", "test_size"):
            if data.get(key) is not None and not (config_name == "eval" and key == "batch_size"):
                shown.append(f"{key} {data.get(key)}")
        lines.append(", ".join(shown) if size is not None or len(shown) > 1 else shown[0])
        trainer = cfg.get("trainer", {})
        if config_name == "train":
            lines.append(
                f"trainer: {trainer.get('max_steps')} steps on {_device(trainer)}, "
                f"loss {cfg.module.get('loss')}, {choices.get('optim')} lr {cfg.optim.get('lr')}, "
                f"sampling={choices.get('sampling')}"
            )
        lines.append(f"metrics={choices.get('metrics')}: {', '.join(cfg.get('metrics') or {})}; "
                     f"baselines {list(cfg.get('baselines') or [])}")  # fmt: skip
    present = list(cfg)  # `key in cfg` is False for a `???` value
    for key in ("ckpt_path", "input", "output", "format", "num_predictions"):
        if key in present:
            value = cfg._get_node(key)._value()
            if value is not None:
                lines.append(f"{key}={'(required)' if value == '???' else value}")
    return lines


def help_text(config_name: str, prog: str, args: list[str]) -> str:
    from predrnn.validation import search_path

    overrides = [a for a in args if not a.startswith("-")]
    folders = search_path(overrides)
    out = [f"{prog}: {description(CONF_DIR / f'{config_name}.yaml')}", ""]
    out += [f"usage: {prog} [KEY=VALUE ...] [-m for a sweep]   (--version, --info, --cfg job: the whole config)", ""]
    try:
        cfg = _compose(config_name, overrides)
    except Exception as err:  # the overrides were checked already; say what failed, keep the lists
        out += [f"(the config could not be composed: {' '.join(str(err).split())[:200]})", ""]
    else:
        given = " ".join(overrides)
        out += [f"what runs here{' with ' + given if given else ''}:", *(f"  {line}" for line in _what_runs(cfg, config_name)), ""]  # fmt: skip
    titles = {"experiment": "experiments (experiment=NAME)", "model": "models (model=NAME)",
              "data": "data (data=NAME)", "metrics": "metric sets (metrics=NAME)",
              "sampling": "sampling curves (sampling=NAME)", "trainer": "devices (trainer=NAME)"}  # fmt: skip
    for group in LISTED.get(config_name, ()):
        out += _list(f"{titles[group]}:", options(group, folders))
    if config_name in ("train", "eval"):
        out += _list("baselines (baselines=[NAME,…]), scored beside the model:", baselines())
    out.append("Any key: KEY=VALUE (e.g. trainer.max_steps=1000); README.md and docs/ explain each.")
    return "\n".join(out)
