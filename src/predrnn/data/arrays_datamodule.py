"""`data=arrays`: the Lightning data module over a user's own arrays, videos, frame folders or
BAIR TFRecords, with the actions beside the frames when `actions_key` names them
(docs/data.md).

Opening the module reads only headers (and the actions, which are small): the clips, their
frame shape (C, H, W) and dtype, the splits and the windows are known at once, so the network
is sized from the data and a bad file fails before anything is written. The normalisation
statistics are then streamed over the training split once (`normalization`), and
`check_sources()` scans the validation and test clips for NaN/inf, both before training starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pytorch_lightning.utilities import rank_zero_info
from typing_extensions import override

from predrnn import checks
from predrnn.compatibility import ServedFrames
from predrnn.data.base import WindowedDataModule, sha256_of
from predrnn.data.clip import Clip
from predrnn.data.normalization import KINDS, Normalization, fit_normalization, read_blocks, stream_stats, value_range
from predrnn.data.sources import open_clips
from predrnn.data.windows import SPLITS, WindowDataset, make_windows, split_clips
from predrnn.errors import BadValue, DataError


class ArraysDataModule(WindowedDataModule):
    """Windows of `total_length` frames from the clips under `path` (and `val_path` /
    `test_path` when a split has its own files). Batches reach the model as float32
    (B, T, C, H, W) in model units (`normalization.encode`, on the model's device), or, with
    `actions_key`, as `{"frames": those, "actions": float32 (B, T, A)}`, the action of each
    frame of the window beside it; A is read from the data (`action_channels`)."""

    more_data = " or data.stride, or give more clips"  # the end of the "too few windows" line

    def __init__(
        self,
        path: str,
        key: str | None = None,
        layout: str | None = None,
        actions_key: str | None = None,
        normalize: str = "minmax",
        grey: bool = False,
        image_size: int | list[int] | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        test_clips: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        input_length: int = 10,
        total_length: int = 20,
        eval_total_length: int | None = None,
        stride: int | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        seed: int = 0,
        pin_memory: bool = True,
        future_actions: int | None = None,
    ) -> None:
        """`future_actions` is not a data key: predrnn-predict describes a weights-only
        checkpoint by this data module over its input, whose clips carry the actions of the
        predicted frames too (at least `future_actions` more actions than frames; None: exactly
        one per frame, as training data has)."""
        super().__init__(batch_size, eval_batch_size)
        checks.choice("normalize", normalize, KINDS, "minmax")
        checks.boolean("grey", grey)
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            checks.number(name, value, 0.1, minimum=0.0, below=1.0)
        if val_fraction + test_fraction >= 1:
            raise BadValue(
                "test_fraction", test_fraction, f"+ val_fraction={val_fraction} leaves nothing to train on", 0.1
            )
        checks.integer("split_seed", split_seed, 0)
        self.check_loading(batch_size, eval_batch_size, num_workers, seed, pin_memory)
        checks.integer("total_length", total_length, 20, minimum=2)
        if eval_total_length is not None:
            checks.integer("eval_total_length", eval_total_length, 30, minimum=2)
        if stride is not None:
            checks.integer("stride", stride, total_length, minimum=1)
        if test_clips is not None:
            if test_path is not None:
                raise BadValue(
                    "test_clips", test_clips, "and data.test_path both choose the test clips: give one", "null"
                )
            try:
                re.compile(test_clips)
            except (re.error, TypeError) as err:
                raise BadValue(
                    "test_clips", test_clips, f"is not a regular expression ({err})", "'person(1[7-9]|2[0-5])_'"
                ) from None
        if not isinstance(path, str) or not path:
            raise BadValue("path", path, "must name your data file or folder", "frames.h5")
        if actions_key is not None and (not isinstance(actions_key, str) or not actions_key):
            raise BadValue("actions_key", actions_key, "must name the actions array beside the frames", "actions")
        self.save_hyperparameters()
        self.total_length = total_length
        self.stride = stride or total_length
        self.set_input_length(input_length)
        self._normalization: Normalization | None = None
        self._windows: dict[str, list[tuple[int, int]]] = {}
        self._ranges: dict[str, tuple[list[float], list[float]]] = {}
        self.splits = self._open_splits()
        first = next(c for clips in self.splits.values() for c in clips)
        self.channels, height, width = first.source.frame_shape
        self.image_size = (height, width)
        self.uint8 = first.source.dtype == "uint8"
        self.action_channels = first.action_channels
        if image_size is not None and checks.pair("image_size", image_size, "null") != self.image_size:
            raise DataError(
                f"{path} frames are {height}x{width}, not data.image_size={image_size}: "
                "drop the override (the size is read from the data) or give data of that size"
            )

    def set_input_length(self, input_length: int) -> None:
        self.check_lengths(input_length, self.total_length)
        self.input_length = input_length
        self._eval_length = self.hparams.eval_total_length or self.total_length
        if self.eval_total_length <= input_length:
            raise BadValue(
                "eval_total_length",
                self.eval_total_length,
                f"must be more than input_length={input_length}",
                2 * input_length,
            )

    @property
    def eval_total_length(self) -> int:
        """Validation and test windows: `eval_total_length`, or as long as training ones."""
        return self._eval_length

    # --- clips, splits, windows ------------------------------------------------------------
    def _open(self, path: str, key_name: str) -> list[Clip]:
        h = self.hparams
        return open_clips(path, h.key, h.layout, h.grey, path_key=key_name, actions_key=h.actions_key,
                          future_actions=h.future_actions)  # fmt: skip

    def _open_splits(self) -> dict[str, list[Clip]]:
        h = self.hparams
        clips = self._open(h.path, "data.path")
        own = {"val": h.val_path, "test": h.test_path}
        matched = []
        if h.test_clips is not None:  # the test split by name, e.g. KTH's persons 17-25
            matched = [c for c in clips if re.search(h.test_clips, c.name)]
            clips = [c for c in clips if not re.search(h.test_clips, c.name)]
            if not matched or not clips:
                raise DataError(
                    f"data.test_clips={h.test_clips!r} matches {len(matched)} of the {len(matched) + len(clips)} clips "
                    f"under {h.path}: give a pattern that matches some clip names (e.g. {(matched or clips)[0].name}) but not all"
                )
        test_fraction = 0.0 if own["test"] or matched else h.test_fraction
        drawn = split_clips(clips, 0.0 if own["val"] else h.val_fraction, test_fraction, h.split_seed)
        drawn["test"] = drawn["test"] or matched
        splits = {"train": drawn["train"]}
        for name in ("val", "test"):
            splits[name] = self._open(own[name], f"data.{name}_path") if own[name] else drawn[name]
        shapes = {(c.source.frame_shape, c.source.dtype == "uint8") for s in splits.values() for c in s}
        if len(shapes) > 1:
            raise DataError(
                f"data.val_path / data.test_path frames differ from data.path's ({sorted(str(s) for s in shapes)}): "
                "give every split the same frame shape and dtype"
            )
        actions = {c.action_channels for s in splits.values() for c in s}
        if len(actions) > 1:
            raise DataError(
                f"data.val_path / data.test_path actions differ in length from data.path's ({sorted(actions)} values "
                "per frame): give every split actions of one length"
            )
        return splits

    def windows(self, split: str) -> list[tuple[int, int]]:
        """[(clip, start)] of `split`; an empty split is a DataError, skipped clips are reported."""
        if split not in self._windows:
            length = self.window_length(split)
            stride = self.stride if split == "train" else length
            found, skipped = make_windows(self.splits[split], length, stride)
            if not found:
                longest = max((c.length for c in self.splits[split]), default=0)
                fix = (
                    f"give more clips or a larger data.{split}_fraction"
                    if not self.splits[split] and split != "train"
                    else "give longer clips or a shorter data.total_length / eval_total_length"
                )
                raise DataError(
                    f"the {split} split of data.path={self.hparams.path} holds no window of {length} frames "
                    f"({len(self.splits[split])} clips, the longest {longest} frames): {fix}"
                )
            note = f" ({skipped} clips shorter than {length} frames skipped)" if skipped else ""
            rank_zero_info(f"data: {split} split: {len(self.splits[split])} clips, {len(found)} windows{note}")
            self._windows[split] = found
        return self._windows[split]

    # --- normalisation ---------------------------------------------------------------------
    @property
    def normalization(self) -> Normalization:
        """Fitted on the training split (streamed once), unless a model's was adopted."""
        if self._normalization is None:
            kind = self.hparams.normalize
            needs_stats = not self.uint8 or kind == "standard"
            stats = stream_stats(self.splits["train"], uint8=self.uint8) if needs_stats else None
            self._normalization = fit_normalization(kind, stats, self.uint8, self.channels)
        return self._normalization

    def served_frames(self) -> ServedFrames:
        where = f"data.path={self.hparams.path}"
        return ServedFrames(
            (self.channels, *self.image_size), f"{where} frames are {{shape}}", "give data of that shape", where=where,
            actions_key=self.hparams.actions_key, action_channels=self.action_channels, reads_actions=True,
        )  # fmt: skip

    def adopt(self, network, normalization: Normalization) -> None:
        """Serve data for a trained model (eval): its observed length, its units."""
        self.set_input_length(network.input_length)
        self._normalization = normalization
        self._windows.clear()

    def check_sources(self, splits: tuple[str, ...] = SPLITS) -> None:
        """Before a run writes anything: the windows of `splits` exist (training: at least a
        batch), the statistics are fitted, and the other clips hold no NaN/inf (the training
        split's are checked while fitting). `predrnn-eval` checks the test split only."""
        for split in splits:
            self.windows(split)
        if "train" in splits:
            self.check_batch(len(self.windows("train")), processes=1)
        _ = self.normalization
        if not self.uint8:  # the windows are read unchecked after this
            for name in sorted(set(splits) - {"train"}):
                self._ranges[name] = value_range(read_blocks(self.splits[name]))

    @override
    def value_range(self, split: str) -> tuple[list[float], list[float]] | None:
        return self._ranges.get(split)

    def data_summary(self) -> dict[str, dict[str, int]]:
        """Per split whose windows are known: its clips and windows (recorded in summary.json)."""
        return {s: {"clips": len(self.splits[s]), "windows": len(w)} for s, w in self._windows.items()}

    def test_set_definition(self) -> dict[str, Any]:
        h = self.hparams
        source = Path(h.test_path or h.path).expanduser().resolve()
        definition: dict[str, Any] = {"path": str(source), "key": h.key, "layout": h.layout,
                                      "total_length": self.eval_total_length}  # fmt: skip
        if h.actions_key is not None:
            definition["actions_key"] = h.actions_key
        if source.is_file():
            definition["sha256"] = sha256_of(source)
        if not h.test_path:
            definition.update(split_seed=h.split_seed, val_fraction=h.val_fraction, test_fraction=h.test_fraction)
        definition["clips"] = [c.name for c in self.splits["test"]][:1000]
        return definition

    def command_overrides(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The overrides predrnn-eval and predrnn-predict need to read this data: (eval, predict)."""
        h = self.hparams
        read: dict[str, Any] = {f"data.{k}": h[k] for k in ("key", "layout", "actions_key") if h[k] is not None}
        if h.grey:
            read["data.grey"] = True
        given = {k: h[k] for k in ("test_path", "test_clips", "eval_total_length") if h[k] is not None}
        if "test_path" in given:
            given["test_path"] = str(Path(h.test_path).expanduser().resolve())
        if h.eval_total_length is None:  # the test windows are as long as the training ones
            given["total_length"] = h.total_length
        drawn = {"val_fraction": 0.1, "test_fraction": 0.1, "split_seed": 0}  # the split by clip, where it differs
        given.update({k: h[k] for k, v in drawn.items() if h.get(k, v) != v})
        split = {f"data.{k}": v for k, v in given.items()}
        return {"data": "arrays", "data.path": str(Path(h.path).expanduser().resolve()), **read, **split}, read

    # --- loaders ---------------------------------------------------------------------------
    def window_length(self, split: str) -> int:
        return self.total_length if split == "train" else self.eval_total_length

    def dataset(self, split: str) -> WindowDataset:
        return WindowDataset(self.splits[split], self.windows(split), self.window_length(split))
