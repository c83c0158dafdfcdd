"""The readers of `data=arrays`, one module per format (docs/architecture.md, "Readers").

`api.py` holds the contract (`Source`, `Options`), `registry.py` finds the readers by importing
every module of this package and picks one per path, `array.py` is the shared base of the array
readers and `packing.py` their refusal of CF-packed values. The readers: `npy.py`, `npz.py`,
`hdf5.py`, `zarr_store.py`, `netcdf3.py` (refused, pointing to data=xarray), `video.py`,
`frames.py` (folders of frame images) and `bair.py` (BAIR TFRecords). This file imports nothing,
so that the registry's discovery is the only thing that imports them.
"""
