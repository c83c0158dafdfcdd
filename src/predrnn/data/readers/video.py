"""Video files, one clip each (docs/data.md, "Formats"): GIF decoded with imageio's Pillow
plugin, MP4, AVI, MOV, MKV and WebM with PyAV.

Frames are read as (C, H, W) uint8: grey frames give C = 1, colour ones C = 3 (an alpha channel
is dropped), and `grey=True` turns colour into grey (ITU-R 601 luma). A video is decoded from its
start up to the last frame a window needs. `to_chw` is shared with the other readers of decoded
frames (`frames.py`, `bair.py`).

PyAV is used directly rather than through imageio's plugin, whose `close()` runs a full garbage
collection: in a process that holds torch and Lightning that is about 0.3 s, paid on every
window read. The frame count is the stream's, or where the container records none (Matroska,
WebM) its packets counted without decoding. Colour conversion is single-threaded
(`threads=1`, PyAV ≥ 17): a scaler's thread pool alive at a fork would be inherited by the
DataLoader workers without its threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predrnn.data.readers.api import Options, Source
from predrnn.errors import DataError
from predrnn.extras import require

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_chw(frame: np.ndarray, grey: bool) -> np.ndarray:
    """One decoded frame (H, W) or (H, W, 3|4) as uint8 (C, H, W)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        return frame[None]
    frame = frame[..., :3]
    if grey:
        return np.rint(frame.astype(np.float32) @ LUMA).clip(0, 255).astype(np.uint8)[None]
    return np.moveaxis(frame, -1, 0)


class VideoSource(Source):
    """One video file, one clip."""

    suffixes = (".gif", ".mp4", ".avi", ".mov", ".mkv", ".webm")
    in_folders = True

    def __init__(self, path: Path, grey: bool = False, path_key: str = "data.path") -> None:
        self.gif = path.suffix.lower() == ".gif"
        if not self.gif:
            require("av", "formats", f"{path_key}={path} (a video)")
        self.path, self.grey, self.name, self.path_key = path, grey, str(path), path_key
        try:
            self.length = _gif_length(path) if self.gif else _video_length(path)
            first = self._decoded(0, 1)[0]
        except Exception as err:  # decoders raise many types; all mean the same to the user
            raise self._undecodable(err) from None
        self.frame_shape = tuple(to_chw(first, grey).shape)
        self.dtype = np.dtype(np.uint8)

    @classmethod
    def open(cls, path: Path, options: Options) -> VideoSource:
        return cls(path, options.grey, options.path_key)

    def _undecodable(self, err: Exception) -> DataError:
        reason = " ".join(str(err).split())[:100] or type(err).__name__
        return DataError(
            f"{self.path_key}: video {self.path} can't be decoded ({reason}): re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or remove it"
        )

    def _decoded(self, start: int, stop: int) -> list[np.ndarray]:
        """Frames start … stop − 1 (fewer where the video ends first), each (H, W) or (H, W, 3|4):
        the video is decoded from its start, and only these frames are converted."""
        return (_gif_frames if self.gif else _video_frames)(self.path, start, stop)

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        try:
            frames = [to_chw(frame, self.grey) for frame in self._decoded(start, stop)]
        except Exception as err:
            raise self._undecodable(err) from None
        if len(frames) < stop - start:
            raise DataError(
                f"{self.path_key}: video {self.path} ends after {start + len(frames)} frames, its header says "
                f"{self.length}: re-encode it"
            )
        return np.stack(frames)


def _gif_length(path: Path) -> int:
    import imageio.v3 as iio

    return int(iio.improps(path, index=None).shape[0])


def _gif_frames(path: Path, start: int, stop: int) -> list[np.ndarray]:
    import imageio.v3 as iio

    frames = []
    for t, frame in enumerate(iio.imiter(path)):
        if t == stop:
            break
        if t >= start:
            frames.append(frame)
    return frames


def _video_length(path: Path) -> int:
    """The video's frame count: its stream's, or its packets where the container records none."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames or sum(1 for packet in container.demux(stream) if packet.size)


def _video_frames(path: Path, start: int, stop: int) -> list[np.ndarray]:
    """Frames start … stop − 1 as (H, W, 3) RGB, converted on this thread (see the module); the
    frames before `start` are decoded, not converted."""
    import av
    from av.video.reformatter import VideoReformatter

    rgb, frames = VideoReformatter(), []
    with av.open(str(path)) as container:
        for t, frame in enumerate(container.decode(video=0)):
            if t == stop:
                break
            if t >= start:
                frames.append(rgb.reformat(frame, format="rgb24", threads=1).to_ndarray())
    return frames
