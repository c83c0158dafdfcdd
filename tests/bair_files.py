"""BAIR robot pushing files as released: TFRecord files of `tf.train.Example`s in the layout of
softmotion30_44k, written with the `tfrecord` package (the `bair` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAMES = 14  # BAIR's records hold 30; 14 covers one 12-frame window and keeps the files small


def bair_record(seed: int, frames: int = FRAMES) -> dict[str, np.ndarray]:
    """One clip's streams: two cameras (F, 64, 64, 3) uint8, actions (F, 4), end-effector (F, 3)."""
    rng = np.random.default_rng(seed)
    aux = rng.integers(0, 256, (frames, 64, 64, 3), dtype=np.uint8)
    aux[:, 0, 0, 0] = np.arange(frames)  # pixel (0, 0) counts the frames
    return {"image_aux1": aux, "image_main": 255 - aux,
            "action": rng.normal(size=(frames, 4)).astype(np.float32),
            "endeffector_pos": rng.normal(size=(frames, 3)).astype(np.float32)}  # fmt: skip


def write_bair(path: Path, records: list[dict[str, np.ndarray]], drop_last_frame_of: int | None = None) -> None:
    """A TFRecord file in the layout of softmotion30_44k: per frame j, `{j}/image_aux1/encoded`
    and `{j}/image_main/encoded` (raw bytes), `{j}/action` and `{j}/endeffector_pos` (floats)."""
    from tfrecord.writer import TFRecordWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = TFRecordWriter(str(path))
    for r, record in enumerate(records):
        count = len(record["action"]) - (r == drop_last_frame_of)
        example = {}
        for j in range(count):
            example[f"{j}/image_aux1/encoded"] = (record["image_aux1"][j].tobytes(), "byte")
            example[f"{j}/image_main/encoded"] = (record["image_main"][j].tobytes(), "byte")
            example[f"{j}/action"] = (record["action"][j].tolist(), "float")
            example[f"{j}/endeffector_pos"] = (record["endeffector_pos"][j].tolist(), "float")
        writer.write(example)
    writer.close()
