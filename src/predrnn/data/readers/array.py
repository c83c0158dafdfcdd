"""What the array readers share (`npy.py`, `npz.py`, `hdf5.py`, `zarr_store.py`): one array of a
container read through `data.layout`, and the actions beside it (`data.actions_key`, an (N, T, A)
array in the same container; docs/data.md, "Formats" and "Actions").

Frames are read one window at a time; the actions, small beside the frames, are read whole when
the file is opened, checked there (3-D, one vector per clip and frame, finite) and kept in memory
as float32. A subclass says how its container opens, which arrays it holds and what its arrays
may not carry (`container`, `names`, `node`, `check`); the frames' handle is opened once per
process, so loader workers each get their own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from predrnn.data.clip import check_dtype
from predrnn.data.layout import Layout
from predrnn.data.readers.api import Options, Source
from predrnn.errors import BadValue, DataError


class ArraySource(Source):
    """One array read through its layout: the shared base of the array readers (abstract: a
    reader names its container by subclassing it)."""

    takes_key = True
    keeps_open = True  # the frames' array reads through its open container (HDF5, Zarr); npz: False

    def __init__(
        self, path: Path, key: str | None, layout: str | None, path_key: str = "data.path",
        actions_key: str | None = None,
    ) -> None:  # fmt: skip
        self.path, self.key, self.path_key, self.actions_key = path, key, path_key, actions_key
        self._array, self._pid = None, None
        array = self.array
        self.name = f"{path}" + (f"[{self.key}]" if self.key else "")
        try:
            self.layout = Layout(layout) if layout is not None else Layout.guess(array.ndim, f"{path_key}={self.name}")
            self.layout.check_rank(tuple(array.shape), self.name)
        except BadValue as err:
            raise err.in_group("data") from None
        shape = tuple(int(s) for s in array.shape)
        self.num_clips = self.layout.size(shape, "N")
        self.length = self.layout.size(shape, "T")
        self.frame_shape = tuple(self.layout.size(shape, a) for a in "CHW")
        self.dtype = check_dtype(np.dtype(array.dtype), self.name)
        if 0 in shape:
            raise DataError(f"{self.path_key}={self.name} is empty (shape {shape}): give frames")
        self.actions = None if actions_key is None else self.load_actions()
        self.action_channels = None if self.actions is None else int(self.actions.shape[2])
        self.actions_length = None if self.actions is None else int(self.actions.shape[1])

    @classmethod
    def open(cls, path: Path, options: Options) -> ArraySource:
        return cls(path, options.key, options.layout, options.path_key, options.actions_key)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None, "_pid": None}  # handles are reopened in each process

    # --- what a container reader fills in --------------------------------------------------
    def container(self) -> Any:
        """The open file or store (a DataError naming the fix when it can't be read)."""
        raise NotImplementedError

    def names(self, container: Any) -> list[str]:
        """The arrays `container` holds, by the name `data.key` gives them."""
        raise NotImplementedError

    def node(self, container: Any, name: str) -> Any:
        """Array `name` of `container`, unread (sliced later) or read whole (.npz)."""
        return container[name]

    def check(self, node: Any, name: str | None) -> None:
        """Refuse an array that must not be read as it is (bytes in other files, CF packing)."""

    def close(self, container: Any) -> None:
        """Release `container` once the frames' array no longer needs it (npz: at once)."""

    def open_array(self) -> Any:
        """The frames' array: `data.key`, or the container's only array besides the actions."""
        container, kept = self.container(), False
        try:
            node = self.node(container, self.pick(self.names(container)))
            self.check(node, self.key)
            kept = self.keeps_open
            return node
        finally:
            if not kept:  # read whole, or refused
                self.close(container)

    # --- the frames ------------------------------------------------------------------------
    @property
    def array(self):
        if self._array is None or self._pid != os.getpid():
            self._array, self._pid = self.open_array(), os.getpid()
        return self._array

    def pick(self, names: list[str]) -> str:
        """The frames' array: `data.key`, or the only array that is not the actions."""
        frames = [n for n in names if n != self.actions_key]
        if self.key is None and len(frames) == 1:
            self.key = frames[0]
        if self.key not in names:
            if self.key is None:
                raise DataError(
                    f"{self.path_key}={self.path} holds {len(frames)} arrays ({listed(frames)}): choose one with "
                    "data.key=NAME"
                )
            raise DataError(f"data.key={self.key} is not in {self.path} (it holds {listed(names)}): give one of those")
        return self.key

    def clip_name(self, index: int) -> str:
        return f"{self.name} clip {index}" if self.layout.has_clips else self.name

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        block = np.asarray(self.array[self.layout.clip_index(index, start, stop)])
        return np.ascontiguousarray(self.layout.to_tchw(block))

    # --- the actions -----------------------------------------------------------------------
    def actions_array(self) -> np.ndarray:
        """The array `data.actions_key`, read whole (not yet checked)."""
        container = self.container()
        try:
            names = self.names(container)
            if self.actions_key not in names:
                raise DataError(
                    f"data.actions_key={self.actions_key} is not in {self.path} (it holds {listed(names)}): give one "
                    "of those"
                )
            node = self.node(container, self.actions_key)
            self.check(node, self.actions_key)
            return np.asarray(node[...])
        finally:
            self.close(container)

    def load_actions(self) -> np.ndarray:
        """The (N, T, A) array `data.actions_key`, read whole and checked, as float32."""
        actions = self.actions_array()
        where = f"data.actions_key={self.actions_key} in {self.path}"
        check_dtype(actions.dtype, where)
        if actions.ndim != 3:
            raise DataError(
                f"{where} is {actions.ndim}-D {tuple(actions.shape)}: give (N, T, A) actions, one vector of A "
                "values per frame of each clip"
            )
        n, t, a = (int(s) for s in actions.shape)
        if n != self.num_clips or a == 0:
            clips = f"{self.num_clips} clip" + ("s" if self.num_clips != 1 else "")
            raise DataError(
                f"{where} is (N, T, A) = {(n, t, a)} but {self.name} holds {clips}: give ({self.num_clips}, T, A) "
                "actions, one row per clip in the frames' order"
            )
        actions = actions.astype(np.float32, copy=False)
        bad = np.argwhere(~np.isfinite(actions))
        if len(bad):
            clip, frame = (int(i) for i in bad[0][:2])
            raise DataError(
                f"{where} holds NaN/inf at clip {clip}, frame {frame} ({len(bad)} values): fix or drop them "
                "(e.g. np.nan_to_num) before training"
            )
        return actions

    def read_actions(self, index: int, start: int, stop: int) -> np.ndarray:
        return self.actions[index, start:stop]


def listed(names: list[str]) -> str:
    """At most eight names, for a message."""
    return ", ".join(names[:8]) + (" …" if len(names) > 8 else "") or "nothing"
