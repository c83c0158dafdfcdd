"""The data: Lightning data modules and the readers behind them (docs/data.md).

- `base.py`: `SpatiotemporalDataModule`, what every data module is and shares;
- `moving_mnist_datamodule.py` (`data=moving_mnist`): Moving MNIST from `moving_mnist.py`'s
  generator over `mnist.py`'s digits;
- `arrays_datamodule.py` (`data=arrays`): a user's clips, opened by `sources.py` through the
  readers `array_source.py` (.npy via `npy.py`, .npz, HDF5, Zarr), `video.py` (videos, frame
  folders) and `bair.py` (BAIR TFRecords), cut by `windows.py` into splits and windows of
  `clip.py`'s clips, with the axes of `layout.py` and the units of `normalization.py`;
- `loaders.py`: the batch samplers and the DataLoader both modules use.
"""
