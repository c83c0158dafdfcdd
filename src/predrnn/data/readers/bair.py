"""BAIR robot pushing as released (`softmotion30_44k/{train,test}/traj_*_to_*.tfrecords`), read
without TensorFlow (docs/data.md, "BAIR").

A TFRecord file is a sequence of records, each framed as: its length (uint64, little-endian),
a masked CRC-32C of those 8 bytes, the record, a masked CRC-32C of the record. Every BAIR
record is one `tf.train.Example`, one clip: for frame j it holds `{j}/image_aux1/encoded` (the
64 × 64 RGB frame the official reader uses, as raw bytes, row by row), `{j}/image_main/encoded`
(the other camera), `{j}/action` (4 floats) and `{j}/endeffector_pos` (3 floats). `data.key`
names the image stream (null: `image_aux1`) and `data.actions_key` the per-frame float feature
used as actions (`action` for action-conditioned models; null: none).

Opening a file reads only the record headers (lengths and their CRCs, seeking past the
records) and parses its first record, whose frame count, frame size and action length stand
for every record of the file; a record that holds fewer frames is a DataError when a window
reads it. A window reads its one record (parsed by the `tfrecord` package's protobuf
`Example`) and decodes only the frames it needs. Every record read has its data CRC checked
(the first at open), so a corrupt record is a DataError naming it, never frames; an encoded
frame (PNG, JPEG) that can't be decoded, or whose header gives another size than the first
frame's (a decompression bomb), is one too.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from predrnn.data.readers.api import Options, Source
from predrnn.data.readers.video import to_chw
from predrnn.errors import DataError
from predrnn.extras import require

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")
DEFAULT_STREAM = "image_aux1"  # the camera the official BAIR reader trains on
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff")  # encoded frames (PNG, JPEG) rather than raw bytes


def _tfrecord():
    return require("tfrecord", "bair", "reading TFRecord files (BAIR)")


def scan_records(path: Path, path_key: str = "data.path") -> list[tuple[int, int]]:
    """[(offset of the record's bytes, their length)] of every record of a TFRecord file, from
    the 12-byte headers only; a header whose CRC is wrong or a record cut short is a DataError."""
    masked_crc = _tfrecord().writer.TFRecordWriter.masked_crc
    size = path.stat().st_size
    records, position = [], 0
    with open(path, "rb") as f:
        while position < size:
            header = f.read(12)
            if len(header) < 12 or masked_crc(header[:8]) != header[8:]:
                raise DataError(
                    f"{path_key}: {path} is not a TFRecord file or is corrupt (bad record header at byte {position}): "
                    "give BAIR's .tfrecords files as released"
                )
            (length,) = struct.unpack("<Q", header[:8])
            end = position + 12 + length + 4
            if end > size:
                raise DataError(
                    f"{path_key}: {path} is truncated (record {len(records)} needs bytes up to {end:,}, the file has "
                    f"{size:,}): download it again"
                )
            records.append((position + 12, length))
            position = end
            f.seek(position)
    return records


def _kind(feature) -> str:
    return feature.WhichOneof("kind") or "empty"


class BairSource(Source):
    """The records of one TFRecord file, one clip each: frames (t, 3, H, W) uint8 (one channel
    with `grey`) and, with `actions_key`, actions (t, A) float32."""

    suffixes = TFRECORD_SUFFIXES
    in_folders = True
    takes_key = True  # the image stream

    def __init__(
        self, path: Path, key: str | None = None, grey: bool = False, path_key: str = "data.path",
        actions_key: str | None = None,
    ) -> None:  # fmt: skip
        self.path, self.grey, self.path_key, self.name = path, grey, path_key, str(path)
        self.records = scan_records(path, path_key)
        if not self.records:
            raise DataError(f"{path_key}: {path} holds no records: give BAIR's .tfrecords files as released")
        self.num_clips = len(self.records)
        self._cache: tuple[int, Any] | None = None
        first = self._example(0).features.feature
        streams = sorted({name.split("/", 1)[1].removesuffix("/encoded") for name in first
                          if name.startswith("0/") and name.endswith("/encoded")})  # fmt: skip
        stream = key.removesuffix("/encoded") if key is not None else None
        if stream is None and (DEFAULT_STREAM in streams or len(streams) == 1):
            stream = DEFAULT_STREAM if DEFAULT_STREAM in streams else streams[0]
        if stream not in streams:
            choose = f"data.key={key} is not an image stream of" if key is not None else "choose the image stream of"
            raise DataError(
                f"{choose} {path} (it holds {', '.join(streams) or 'none'}, as '<frame>/<stream>/encoded'): "
                f"give one of those as data.key"
            )
        self.key = stream
        self.length = 0
        while f"{self.length}/{stream}/encoded" in first:
            self.length += 1
        self.dtype = np.dtype(np.uint8)
        self.raw_shape: tuple[int, int, int] | None = None  # (H, W, 3) of raw frames, from the first one
        self.frame_shape = tuple(self._frame(first, 0, record=0).shape)
        self.actions_key = actions_key
        self.action_channels = self.actions_length = None
        if actions_key is not None:
            name = f"0/{actions_key}"
            floats = sorted(
                {n.split("/", 1)[1] for n in first if n.startswith("0/") and _kind(first[n]) == "float_list"}
            )
            if name not in first or _kind(first[name]) != "float_list":
                raise DataError(
                    f"data.actions_key={actions_key} is not a per-frame float feature of {path} (it holds "
                    f"{', '.join(floats) or 'none'}, as '<frame>/<name>'): give one of those, e.g. action"
                )
            self.action_channels = len(first[name].float_list.value)
            self.actions_length = self.length
            if self.action_channels == 0:
                raise DataError(f"data.actions_key={actions_key} of {path} holds no values: give a feature with values")

    @classmethod
    def open(cls, path: Path, options: Options) -> BairSource:
        return cls(path, options.key, options.grey, options.path_key, options.actions_key)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": None}  # each loader worker parses its own records

    def clip_name(self, index: int) -> str:
        return f"{self.name} record {index}"

    def _example(self, index: int):
        """Record `index` parsed (the last one is kept: a window reads frames, then actions)."""
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        offset, length = self.records[index]
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
            crc = f.read(4)
        if len(data) != length or _tfrecord().writer.TFRecordWriter.masked_crc(data) != crc:
            raise DataError(
                f"{self.path_key}: record {index} of {self.path} fails its CRC check (its bytes are corrupt): "
                "download the file again"
            )
        example = _tfrecord().example_pb2.Example()
        try:
            example.ParseFromString(data)
        except Exception as err:  # protobuf's DecodeError
            raise DataError(
                f"{self.path_key}: record {index} of {self.path} is not a tf.train.Example ({err}): download it again"
            ) from None
        self._cache = (index, example)
        return example

    def _feature(self, features, name: str, record: int, kind: str):
        feature = features.get(name)  # (indexing a missing name would add it)
        if feature is None or _kind(feature) != kind:
            frames = 0
            while f"{frames}/{self.key}/encoded" in features:
                frames += 1
            raise DataError(
                f"{self.path_key}: record {record} of {self.path} has no {kind.split('_')[0]} feature {name} ({frames} "
                f"frames; the file's first record has {self.length}): every record of a file must hold as many frames"
            )
        return feature

    def _frame(self, features, j: int, record: int) -> np.ndarray:
        data = self._feature(features, f"{j}/{self.key}/encoded", record, "bytes_list").bytes_list.value[0]
        if data.startswith(IMAGE_MAGIC):
            return to_chw(self._decode(data, j, record), self.grey)
        if self.raw_shape is None:  # raw RGB bytes of a square frame, as BAIR stores them
            side = math.isqrt(len(data) // 3)
            if len(data) % 3 or side * side * 3 != len(data):
                raise DataError(
                    f"{self.path_key}: {self.path} frame {self.key} holds {len(data)} bytes, not raw RGB of a square "
                    "frame (64 × 64 × 3 = 12288 in BAIR): give BAIR's files as released"
                )
            self.raw_shape = (side, side, 3)
        if len(data) != math.prod(self.raw_shape):
            raise DataError(
                f"{self.path_key}: record {record} of {self.path} has a frame of {len(data)} bytes, the first "
                f"{math.prod(self.raw_shape)}: every frame must have one size"
            )
        return to_chw(np.frombuffer(data, np.uint8).reshape(self.raw_shape), self.grey)

    def _decode(self, data: bytes, j: int, record: int) -> np.ndarray:
        """An encoded frame (PNG, JPEG) as (H, W) or (H, W, 3) uint8; one of another size than
        the first frame (checked from its header, before decoding), or that can't be decoded, is
        a DataError naming the record."""
        import io

        from PIL import Image

        where = f"{self.path_key}: record {record} of {self.path} frame {j} ({self.key})"
        try:
            with Image.open(io.BytesIO(data)) as image:
                first = getattr(self, "frame_shape", None)
                if first is not None and (image.height, image.width) != tuple(first[1:]):
                    raise DataError(
                        f"{where} is {image.height}x{image.width}, the first frame {first[1]}x{first[2]}: "
                        "every frame must have one size"
                    )
                if image.mode in ("I", "I;16", "I;16B", "I;16L", "F") or (image.format == "PNG" and data[24] > 8):
                    raise DataError(f"{where} is a {image.mode} image deeper than 8 bits: BAIR's frames are 8-bit RGB")
                return np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
        except DataError:
            raise
        except Exception as err:  # a truncated or corrupt PNG/JPEG, Pillow's decompression-bomb refusal
            raise DataError(
                f"{where} can't be decoded ({' '.join(str(err).split())}): download the file again"
            ) from None

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        features = self._example(index).features.feature
        return np.stack([self._frame(features, j, index) for j in range(start, stop)])

    def read_actions(self, index: int, start: int, stop: int) -> np.ndarray:
        features = self._example(index).features.feature
        rows = []
        for j in range(start, stop):
            values = self._feature(features, f"{j}/{self.actions_key}", index, "float_list").float_list.value
            rows.append(np.asarray(values, dtype=np.float32))
            if len(rows[-1]) != self.action_channels:
                raise DataError(
                    f"{self.path_key}: record {index} of {self.path} has {len(rows[-1])} values of "
                    f"{self.actions_key} at frame {j}, the first record {self.action_channels}: give one length"
                )
        actions = np.stack(rows)
        if not np.isfinite(actions).all():
            frame = start + int(np.argwhere(~np.isfinite(actions))[0][0])
            raise DataError(
                f"{self.path_key}: record {index} of {self.path} holds NaN/inf in {self.actions_key} at frame {frame}: "
                "fix or drop that record"
            )
        return actions
