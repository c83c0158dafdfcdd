"""Predicting the next frames of given clips: the library side of `predrnn-predict`
(`cli/predict.py`). `observed.py` reads the observations, `run.py` runs the rollout and
`outputs.py` checks and writes what it writes.

Input: anything `data=arrays` reads (docs/data.md): a .npy / .npz / HDF5 / Zarr array named by
`data.key` and laid out as `data.layout` (default: (T, H, W) or (N, T, H, W)), a video, a folder
of videos or frame folders, or BAIR TFRecords. The last `input_length` frames of each clip are
the observations. A model that reads actions takes them from `data.actions_key` (an (N, T', A)
array beside the frames): for a clip of L frames and K = num_predictions, T' ≥ L + K − 1, the
actions of its frames and of the predicted ones but the last. Output: the predicted frames as
one .npy in the input's layout with T replaced by the K predicted frames (N, K, H, W, C for
videos, frame folders and TFRecords), in the input's units and dtype, and a GIF of the first
clip with its prediction. `clip=true` clips the predictions to the training split's range per
channel (stored in the checkpoint); by default they are the model's values as they are, which
can go outside it (uint8 outputs are always 0-255). Both outputs are checked before any work
(never an input, never an existing file unless overwrite=true) and written atomically.

A CF series (a netCDF file, a Zarr store, a folder or glob of them, a URL with
`data.storage_options`; and any input of a model trained through data=xarray) is read as
data=xarray reads it, with the checkpoint's variables, dims, select and coarsen (a `data.*` value
given wins): the last `input_length` times, consecutive at the model's time step, are observed;
no-data pixels (NaN) reach the network as the training data's lowest value, as in training, and
the predictions are NaN where the last observed frame has no data. `output=forecast.nc` (netCDF-4)
or `output=forecast.zarr` (a Zarr store) is then a CF forecast on the input's grid, issued at the
last observed time with lead times of 1 … K steps (`data/forecast_writer.py`); a `.npy` output
holds (1, K, H, W, C).
"""
