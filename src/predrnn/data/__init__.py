"""The data: Lightning data modules and the readers behind them (docs/data.md).

- `base.py`: `SpatiotemporalDataModule`, what every data module is and shares;
- `moving_mnist_datamodule.py` (`data=moving_mnist`): Moving MNIST from `moving_mnist.py`'s
  generator over `mnist.py`'s digits;
- `arrays_datamodule.py` (`data=arrays`): a user's clips, opened by `sources.py` through the
  readers of `readers/` (one file per format: .npy, .npz, HDF5, Zarr, videos, frame folders,
  BAIR TFRecords; found by `readers/registry.py`), cut by `windows.py` into splits and windows
  of `clip.py`'s clips, with the axes of `layout.py` and the units of `normalization.py`;
- `loaders.py`: the batch samplers and the DataLoader both modules use.
"""
