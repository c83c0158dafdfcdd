"""Clips from one array file: a memory-mapped `.npy`, an `.npz` member, an HDF5 dataset or a
Zarr array, laid out as `data.layout` names it (docs/data.md, "Formats"), and the actions
beside the frames in the same file (`data.actions_key`, an (N, T, A) array; "Actions").

Frames are read one window at a time; the actions, small beside the frames, are read whole
when the file is opened, checked there (3-D, one vector per frame of each clip, finite) and
kept in memory as float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from predrnn.data.clip import Clip, check_dtype
from predrnn.data.layout import Layout
from predrnn.data.npy import load_npy
from predrnn.errors import BadValue, DataError


class ArraySource:
    """One array read through its layout. HDF5 and Zarr handles are opened per process, so
    loader workers each get their own."""

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
        self.actions = None if actions_key is None else self._load_actions()
        self.action_channels = None if self.actions is None else int(self.actions.shape[2])
        self.actions_length = None if self.actions is None else int(self.actions.shape[1])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None, "_pid": None}  # handles are reopened in each process

    # --- the frames ------------------------------------------------------------------------
    @property
    def array(self):
        if self._array is None or self._pid != os.getpid():
            self._array, self._pid = self._open(), os.getpid()
        return self._array

    @property
    def kind(self) -> str:
        suffix = self.path.suffix.lower()
        if suffix in (".npy", ".npz"):
            return suffix[1:]
        return "zarr" if suffix in (".zarr", ".zip") or self.path.is_dir() else "hdf5"

    def _open(self):
        kind = self.kind
        if kind == "npy":
            return load_npy(self.path, self.path_key)
        container = self._container()
        try:
            if kind == "npz":
                return self._npz_member(container, self._pick(self._names(container)))
            if kind == "zarr" and self._is_single_zarr_array(container):
                if self.key is not None:
                    raise DataError(
                        f"data.key={self.key} given, but {self.path} is a single Zarr array: set data.key=null"
                    )
                self._check_inside(container, None)
                return container
            node = container[self._pick(self._names(container))]
            self._check_inside(node, self.key)
            return node
        finally:
            if kind == "npz":
                container.close()

    def _container(self):
        """The open file: an NpzFile, an h5py File or a Zarr node (group or array)."""
        kind = self.kind
        if kind == "npz":
            try:
                return np.load(self.path, allow_pickle=False)
            except (OSError, EOFError, ValueError) as err:
                raise DataError(f"{self.path_key}={self.path} is not a readable .npz ({err}): write it again")
        if kind == "hdf5":
            import h5py

            try:
                return h5py.File(self.path, "r")
            except OSError as err:
                raise DataError(f"{self.path_key}={self.path} is not a readable HDF5 file ({err}): write it again")
        import zarr

        try:
            if self.path.suffix.lower() == ".zip":  # a zipped store
                from zarr.storage import ZipStore

                return zarr.open(ZipStore(self.path, mode="r"), mode="r")
            return zarr.open(str(self.path), mode="r")
        except Exception as err:  # zarr raises several types for a path that is not a store
            raise DataError(f"{self.path_key}={self.path} is not a readable Zarr store ({err}): write it again")

    def _npz_member(self, archive, name: str) -> np.ndarray:
        try:
            return archive[name]
        except ValueError as err:  # an object array asks for pickle
            raise DataError(
                f"{self.path_key}={self.path} holds Python objects ({err}): predrnn never unpickles; save numbers"
            ) from None
        except (OSError, EOFError) as err:
            raise DataError(f"{self.path_key}={self.path} is not a readable .npz ({err}): write it again") from None

    def _check_inside(self, node, name: str | None) -> None:
        """Only the named file is read: an HDF5 dataset whose bytes live in other files
        (external raw storage, a virtual dataset) and a Zarr store with a link out of its folder
        are refused, so no other file becomes frames (or an output that `overwrite` replaces)."""
        where = f"{self.path_key}={self.path}" + (f"[{name}]" if name else "")
        if self.kind == "hdf5":
            external = node.external
            if external:
                raise DataError(
                    f"{where} keeps its bytes in another file ({external[0][0]!s}, external storage): predrnn reads "
                    "only the file named; copy the data into it (h5py: f.create_dataset(name, data=...))"
                )
            if node.is_virtual:
                sources = {str(s.file_name) for s in node.virtual_sources()}
                raise DataError(
                    f"{where} is a virtual dataset reading {', '.join(sorted(sources))}: predrnn reads only the file "
                    "named; copy the data into it"
                )
        elif self.kind == "zarr" and self.path.is_dir():
            root = self.path.resolve()
            for entry in self.path.rglob("*"):
                if entry.is_symlink() and not entry.resolve().is_relative_to(root):
                    raise DataError(
                        f"{where}: {entry.relative_to(self.path)} links to {entry.resolve()}, outside the store: "
                        "predrnn reads only the store named; copy the data into it"
                    )

    @staticmethod
    def _is_single_zarr_array(node) -> bool:
        import zarr

        return isinstance(node, zarr.Array)

    def _names(self, container) -> list[str]:
        """The arrays a container holds, by the name `data.key` gives them."""
        kind = self.kind
        if kind == "npz":
            return list(container.files)
        if kind == "hdf5":
            import h5py

            names: list[str] = []
            container.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            return names
        names = [name for name, _ in container.arrays()]
        names += [f"{g}/{a}" for g, group in container.groups() for a, _ in group.arrays()]
        return sorted(names)

    def _pick(self, names: list[str]) -> str:
        """The frames' array: `data.key`, or the only array that is not the actions."""
        frames = [n for n in names if n != self.actions_key]
        if self.key is None and len(frames) == 1:
            self.key = frames[0]
        if self.key not in names:
            listed = _listed(names)
            if self.key is None:
                raise DataError(
                    f"{self.path_key}={self.path} holds {len(frames)} arrays ({_listed(frames)}): choose one with "
                    "data.key=NAME"
                )
            raise DataError(f"data.key={self.key} is not in {self.path} (it holds {listed}): give one of those")
        return self.key

    def clips(self) -> list[Clip]:
        if not self.layout.has_clips:
            return [Clip(self, 0, self.length, self.name)]
        return [Clip(self, n, self.length, f"{self.name} clip {n}") for n in range(self.num_clips)]

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        block = np.asarray(self.array[self.layout.clip_index(index, start, stop)])
        return np.ascontiguousarray(self.layout.to_tchw(block))

    # --- the actions -----------------------------------------------------------------------
    def _load_actions(self) -> np.ndarray:
        """The (N, T, A) array `data.actions_key`, read whole and checked, as float32."""
        where = f"data.actions_key={self.actions_key}"
        kind = self.kind
        if kind == "npy":
            raise BadValue(
                "actions_key", self.actions_key, f"names an array beside the frames, but {self.path} is a .npy, "
                "which holds one array: save frames and actions in one .npz, HDF5 or Zarr file", "null",
            ).in_group("data")  # fmt: skip
        container = self._container()
        try:
            if kind == "zarr" and self._is_single_zarr_array(container):
                raise BadValue(
                    "actions_key", self.actions_key, f"names an array beside the frames, but {self.path} is a single "
                    "Zarr array: write frames and actions as two arrays of a Zarr group", "null",
                ).in_group("data")  # fmt: skip
            names = self._names(container)
            if self.actions_key not in names:
                raise DataError(f"{where} is not in {self.path} (it holds {_listed(names)}): give one of those")
            if kind == "npz":
                actions = self._npz_member(container, self.actions_key)
            else:
                node = container[self.actions_key]
                self._check_inside(node, self.actions_key)
                actions = np.asarray(node[...])
        finally:
            if kind in ("npz", "hdf5"):
                container.close()
        where = f"{where} in {self.path}"
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


def _listed(names: list[str]) -> str:
    return ", ".join(names[:8]) + (" …" if len(names) > 8 else "") or "nothing"
