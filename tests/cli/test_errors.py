"""Every error a user can make ends in one line that names the key or file and the fix, exit
code 2, and loses nothing: no file changes, no run folder is left behind.

The console scripts run in-process (their real `main`, Hydra included) in a scratch folder
that holds a trained checkpoint and input files of every kind. Add a row for each new case."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from helpers import TESTS, run_main
from predrnn.threads import available_cpus

TRAIN = ("predrnn-train", "experiment=smoke", "logger=csv")
PREDICT = ("predrnn-predict", "ckpt_path=model.ckpt")
ARRAYS = ("predrnn-train", "trainer=cpu", "logger=csv", "model.hidden_channels=[8]", "data=arrays")
TINY = (*ARRAYS, "model.patch_size=2", "data.key=x", "data.input_length=4", "data.total_length=8", "data.batch_size=2")
XARRAY = ("predrnn-train", "trainer=cpu", "logger=csv", "model.hidden_channels=[8]", "model.patch_size=2", "data=xarray",
          "data.path=radar.nc", "data.input_length=4", "data.total_length=8", "data.batch_size=2")  # fmt: skip
H5 = (
    *ARRAYS,
    "data.path=frames.h5",
    "data.key=fields",
    "data.layout=NTHWC",
    "data.input_length=4",
    "data.total_length=8",
    "data.batch_size=2",
)


ROWS = [
    # (command and overrides, what the one line must contain)
    ((*TRAIN, "optim.lr=abc"), "optim.lr='abc' must be a number: e.g. optim.lr=0.001"),
    (
        (*TRAIN, "baselines=[zeros,persistence]"),
        "baselines='persistence' is unknown: use one of zeros, copy_last, extrapolation",
    ),
    ((*TRAIN, "+metrics.crps._target_=no.such.Metric"), "metrics.crps._target_=no.such.Metric can't be built"),
    ((*TRAIN, "+metrics.crps._target_=collections.OrderedDict"), "is not a torchmetrics.Metric: give a metric class"),
    ((*TRAIN, "metrics=nowcast", "metrics.events.thresholds=[]"), "metrics.events.thresholds=[] must"),
    ((*TRAIN, "model=mau", "model.tau=0"), "model.tau=0 must be at least 1"),
    ((*TRAIN, "model=mau", "model.sr_size=3"), "model.sr_size=3 must be a power of two"),
    ((*TRAIN, "model=e3dlstm", "model.window_length=11", "model.kernel_size=[2,3,3]"), "model.window_length=11"),
    (
        (*TRAIN, "model=predrnn", "module.decouple_beta=0.1"),
        "module.decouple_beta=0.1 weighs PredRNN-V2's decoupling loss: use model=predrnn_v2",
    ),
    ((*TRAIN, "optim.lr=0"), "optim.lr=0.0 must be positive"),
    ((*TRAIN, "optim.lr=-1e-3"), "optim.lr=-0.001 must be positive"),
    ((*TRAIN, "optim.name=sgd"), "optim.name='sgd' is unknown: use one of adam, adamw"),
    ((*TRAIN, "model.kernel_size=abc"), "model.kernel_size='abc' must be an integer"),
    ((*TRAIN, "model.kernel_size=4"), "model.kernel_size=4 must be odd"),
    ((*TRAIN, "model.patch_size=3"), "model.patch_size=3 must divide the frame size 64x64"),
    ((*TRAIN, "model.hidden_channels=[]"), "model.hidden_channels=[] must be a non-empty list"),
    (
        (*TRAIN, "model.hidden_channels=[8,0]"),
        "model.hidden_channels=[8, 0] must be positive integers, one width per layer: e.g. model.hidden_channels=[64,64]",
    ),
    ((*TRAIN, "+model.cell=gru"), "model.cell is not a setting of model: remove it"),
    ((*TRAIN, "+model.in_channels=3"), "model.in_channels comes from the data (data.*): remove"),
    ((*TRAIN, "model.foo=1"), "model.foo is not a key of this config"),
    ((*TRAIN, "data.num_digits=two"), "data.num_digits='two' must be an integer"),
    ((*TRAIN, "data.batch_size=0"), "data.batch_size=0 must be at least 1"),
    ((*TRAIN, "data.input_length=20"), "data.input_length=20 must be less than total_length=20"),
    ((*TRAIN, "data.speed=[3,1]"), "data.speed=[3, 1] must be a number or [low, high]"),
    ((*TRAIN, "data.test_file=/no/such.npy"), "data.test_file='/no/such.npy' not found"),
    ((*TRAIN, "data.digits=/no/such.npz"), "MNIST digits not found at /no/such.npz"),
    ((*TRAIN, "data.digits=digits_float.npz"), "must be uint8 (0-255), got float64"),
    ((*TRAIN, "data.test_file=seq_small.npy"), "has 32x32 frames, the config image_size=64"),
    ((*TRAIN, "module.loss=huber"), "module.loss='huber' is unknown"),
    ((*TRAIN, "optim.warmup=0.1"), "optim.warmup=0.1 warms up a schedule: set optim.scheduler=cosine too"),
    ((*TRAIN, "optim.warmup=1.5", "optim.scheduler=cosine"), "optim.warmup=1.5 must be < 1.0"),
    ((*TRAIN, "sampling.end=2"), "sampling.end=2.0 must be <= 1.0"),
    (
        (*TRAIN, "sampling.end=0.5", "trainer.max_steps=-1", "trainer.max_epochs=1"),
        "sampling.end=0.5 is a fraction of trainer.max_steps, which is -1",
    ),
    ((*TRAIN, "module.compile=fastest"), "module.compile='fastest' is unknown"),
    ((*TRAIN, "sampling=sigmoid"), "sampling=sigmoid is unknown: use one of"),
    ((*TRAIN, "sampling=exponential", "sampling.k=1.5"), "sampling.k=1.5 must be < 1.0"),
    ((*TRAIN, "sampling=inverse_sigmoid", "sampling.k=0.1"), "sampling.k=0.1 must be >= 1.0"),
    ((*TRAIN, "sampling=reverse", "sampling.s1=9", "sampling.s2=3"), "sampling.s2=3 must be greater than s1=9"),
    ((*TRAIN, "trainer=gpu"), "no GPU is visible here: use trainer=cpu"),
    ((*TRAIN, "trainer.devices=0"), "trainer.devices=0 must be a positive number of devices"),
    ((*TRAIN, f"trainer.devices={available_cpus() + 1}"), "CPU processes on"),
    ((*TRAIN, "trainer.max_steps=abc"), "trainer.max_steps='abc' must be an integer"),
    ((*TRAIN, "trainer.max_steps=0"), "trainer.max_steps=0 trains nothing"),
    ((*TRAIN, "speed=fast", "trainer.gradient_clip_val=1.0"), "can't combine with module.cuda_graph=true"),
    (
        (*TRAIN, "speed=bf16_fp32_start", "trainer.max_steps=-1", "trainer.max_epochs=1"),
        "callbacks.fp32_start.fraction=0.25 is a fraction of trainer.max_steps, which is -1",
    ),
    (
        (*TRAIN, "speed=bf16_fp32_start", "module.cuda_graph=true"),
        "callbacks.fp32_start.fraction=0.25 can't combine with module.cuda_graph=true",
    ),
    ((*TRAIN, "speed=bf16_fp32_start", "callbacks.fp32_start.fraction=2"), "fraction=2.0 must be <= 1.0"),
    ((*TRAIN, "ckpt_path=/no/such.ckpt"), "ckpt_path=/no/such.ckpt not found"),
    ((*TRAIN, "ckpt_path=last"), "ckpt_path=last but no last.ckpt of this experiment"),
    ((*TRAIN, "ckpt_path=text.ckpt"), "text.ckpt is not a torch checkpoint"),
    ((*TRAIN, "ckpt_path=truncated.ckpt"), "truncated.ckpt is not a readable checkpoint (truncated or corrupt)"),
    ((*TRAIN, "ckpt_path=bare.ckpt"), "bare.ckpt is a bare state dict"),
    (
        (*TRAIN, "ckpt_path=model.ckpt", "model.hidden_channels=[8,8,8]"),
        "trained with model.hidden_channels=[8, 8] (config: [8, 8, 8])",
    ),
    (("predrnn-eval", "ckpt_path=/missing.ckpt"), "ckpt_path=/missing.ckpt not found"),
    (("predrnn-eval", "ckpt_path=last"), "ckpt_path=last but no last.ckpt under logs/train"),
    (
        ("predrnn-eval", "ckpt_path=model.ckpt", "data.test_file=seq_empty.npy"),
        "seq_empty.npy is empty (shape (20, 0, 64, 64))",
    ),
    (("predrnn-eval", "ckpt_path=model.ckpt", "module.compile=fastest"), "module.compile='fastest' is unknown"),
    (("predrnn-eval", "ckpt_path=text.ckpt"), "text.ckpt is not a torch checkpoint"),
    ((*PREDICT, "input=empty.npy"), "empty.npy is empty (shape (0, 12, 64, 64))"),
    ((*PREDICT, "input=huge.npy"), "huge.npy is truncated or corrupt: its header declares shape (2, 12, 99999999999)"),
    ((*PREDICT, "input=int16.npy"), "int16.npy holds int16 values in [0, 254], the model was trained on uint8"),
    ((*PREDICT, "input=nan.npy"), "nan.npy clip 0 holds NaN/inf at frame 5"),
    ((*PREDICT, "input=big.npy"), "big.npy holds float32 values in [0, 508]"),
    ((*PREDICT, "input=clip.npy", "num_predictions=abc"), "num_predictions='abc' must be an integer"),
    ((*PREDICT, "input=clip.npy", "batch_size=0"), "batch_size=0 must be at least 1"),
    ((*PREDICT, "input=clip.npy", "output=clip.npy"), "output=clip.npy would overwrite the input clip.npy"),
    (
        (*PREDICT, "input=clip.npy", "output=existing.npy"),
        "output=existing.npy exists: choose another output, or set overwrite=true",
    ),
    ((*PREDICT, "input=clip.npy", "output=result.txt"), "output=result.txt must end in .npy"),
    ((*PREDICT, "input=clip.npy", "output=afolder.npy", "gif=afolder"), "gif=afolder must end in .gif"),
    ((*PREDICT, "input=clip.gif", "output=o.npy", "gif=clip.gif"), "gif=clip.gif would overwrite the input clip.gif"),
    ((*PREDICT, "input=clip.npy", "accelerator=gpu"), "accelerator='gpu' but no GPU is visible here"),
    (("predrnn-predict", "ckpt_path=text.ckpt", "input=clip.npy"), "text.ckpt is not a torch checkpoint"),
    # keys that would do nothing are refused: nothing is random in a prediction; a predrnn
    # checkpoint decides its network
    ((*PREDICT, "input=clip.npy", "seed=3"), "seed is not a key of this config"),
    ((*PREDICT, "input=clip.npy", "model.kernel_size=5"), "model.kernel_size=5 does nothing: ckpt_path="),
    (
        ("predrnn-eval", "ckpt_path=model.ckpt", "model=convlstm"),
        "holds the network predrnn.models.predrnn.PredRNN, not predrnn.models.ConvLSTM",
    ),
    (("predrnn-predict", "ckpt_path=bare.ckpt", "input=clip.npy"), "bare.ckpt is a bare state dict"),
    ((*PREDICT, "input=missing.npy"), "input=missing.npy not found"),
    (("predrnn-export", "ckpt_path=model.ckpt", "format=tflite", "output=m.tflite"), "format='tflite' is unknown"),
    (("predrnn-export", "ckpt_path=model.ckpt", "format=onnx", "output=m.pt"), "output=m.pt must end in .onnx"),
    (
        ("predrnn-export", "ckpt_path=model.ckpt", "format=torchscript", "output=existing.pt"),
        "output=existing.pt exists",
    ),
    (("predrnn-export", "ckpt_path=bare.ckpt", "format=torchscript", "output=m.pt"), "bare.ckpt is a bare state dict"),
    (
        ("predrnn-convert", "ckpt_path=model.ckpt", "output=native.ckpt"),
        "model.ckpt is not an official PredRNN checkpoint",
    ),
    (
        ("predrnn-convert", "ckpt_path=official.ckpt", "output=official.ckpt"),
        "output=official.ckpt would overwrite the input",
    ),
    (
        (
            "predrnn-convert",
            "ckpt_path=official.ckpt",
            "output=n.ckpt",
            "model.hidden_channels=[8,8]",
            "data.image_size=32",
            "model.kernel_size=3",
        ),
        "set model.kernel_size=5",
    ),
    ((*PREDICT, "input=clip.npy", "overwrite=maybe"), "overwrite='maybe' must be true or false"),
    # your own data (data=arrays)
    ((*ARRAYS, "data.path=nosuch.h5"), "data.path=nosuch.h5 not found: give a .npy/.npz/HDF5/Zarr array"),
    ((*ARRAYS, "data.path=notes.txt"), "data.path=notes.txt has an unknown type (.txt)"),
    ((*ARRAYS, "data.path=frames.h5"), "data.path=frames.h5[fields] is 5-D: name its axes with data.layout"),
    ((*H5, "data.key=nope"), "data.key=nope is not in frames.h5 (it holds fields): give one of those"),
    ((*H5, "data.layout=NTXYZ"), "data.layout='NTXYZ' must use each of T, H, W once"),
    ((*H5, "data.layout=NTHW"), "data.layout='NTHW' has 4 axes but frames.h5[fields] is 5-D"),
    (
        (*H5, "data.path=nan_fields.h5"),
        "nan_fields.h5[fields] clip 1 holds NaN/inf at frame 3: fix or drop those frames",
    ),
    ((*ARRAYS, "data.path=mixed"), "folder mixed/clip1 mixes frame sizes (000.png is 16x16x1, 007.png is 20x20x1)"),
    ((*ARRAYS, "data.path=videos"), "video videos/broken.mp4 can't be decoded"),
    ((*H5, "data.total_length=13"), "the train split of data.path=frames.h5 holds no window of 13 frames"),
    ((*H5, "data.val_fraction=0"), "the val split of data.path=frames.h5 holds no window of 8 frames (0 clips"),
    ((*H5, "data.batch_size=9"), "the training split has 2 windows, fewer than data.batch_size=9"),
    ((*H5, "model.patch_size=5"), "model.patch_size=5 must divide the frame size 16x16"),
    ((*H5, "data.image_size=128"), "frames are 16x16, not data.image_size=128"),
    ((*H5, "data.normalize=zscore"), "data.normalize='zscore' is unknown: use one of none, minmax, standard"),
    ((*H5, "data.test_clips=person"), "data.test_clips='person' matches 0 of the 4 clips"),
    ((*H5, "callbacks.media.channel=2"), "callbacks.media.channel=2 must be below the data's 2 channels"),
    (
        (
            "predrnn-eval",
            "ckpt_path=model.ckpt",
            "data=arrays",
            "data.path=frames.h5",
            "data.key=fields",
            "data.layout=NTHWC",
        ),
        "frames are 16x16x2, the model was trained on 64x64x1",
    ),
    (
        (*PREDICT, "input=frames.h5", "data.key=fields", "data.layout=NTHWC"),
        "frames.h5 frames are 16x16x2, the model was trained on 64x64x1",
    ),
    ((*PREDICT, "input=videos"), "video videos/broken.mp4 can't be decoded"),
    # seeds, digits files of the wrong kind
    ((*TRAIN, "seed=-5"), "seed=-5 must be at least 0: e.g. seed=42"),
    ((*TRAIN, "seed=abc"), "seed='abc' must be an integer"),
    ((*TRAIN, "seed=99999999999999"), "seed=99999999999999 must be at most 4294967295"),
    ((*TRAIN, "data.digits=clip.npy"), "data.digits=clip.npy is a single array, not an .npz with x_train and x_test"),
    ((*TRAIN, "data.digits=not_npy_members.npz"), "not_npy_members.npz (train) is not .npy data"),
    # frames smaller than a metric's window
    ((*TINY, "data.path=tiny8.h5"), "metrics.ssim needs frames of at least 11x11 (its window), the data's are 8x8"),
    ((*TINY, "data.path=tiny6.h5", "~metrics.ssim"), "metrics.ssim_official needs frames of at least 7x7"),
    (
        (*TINY, "data.path=tiny6.h5", "~metrics.ssim", "~metrics.ssim_official"),
        "metrics.ssim_openstl needs frames of at least 7x7 (its window), the data's are 6x6: remove it with",
    ),
    # accelerators predrnn does not run on
    ((*TRAIN, "trainer.accelerator=tpu"), "trainer.accelerator='tpu' is unknown: use one of auto, cpu, gpu, cuda, mps"),
    ((*TRAIN, "trainer.accelerator=quantum"), "trainer.accelerator='quantum' is unknown"),
    (("predrnn-eval", "ckpt_path=model.ckpt", "trainer.accelerator=hpu"), "trainer.accelerator='hpu' is unknown"),
    # sizes that can't fit, refused from an estimate before anything is allocated
    ((*TRAIN, "model.hidden_channels=[20000]"), "model.hidden_channels=[20000] makes a network of 33.2 G parameters"),
    ((*TRAIN, "model=mim", "model.hidden_channels=[9000,9000]"), "training it needs at least"),
    ((*TRAIN, "model=predrnnpp", "model.hidden_channels=[6000,6000]"), "use smaller widths or fewer layers"),
    ((*TRAIN, "data.batch_size=100000000"), "data.batch_size=100000000 needs at least 65.5 TB for one training batch"),
    ((*H5, "data.batch_size=2000000000"), "data.batch_size=2000000000 needs at least"),
    # folders nothing can be written in (a read-only file system: refused for root too)
    ((*PREDICT, "input=clip.npy", "output=/sys/predictions.npy"), "nothing can be written in /sys (read-only)"),
    (("predrnn-export", "ckpt_path=model.ckpt", "output=/proc/m.onnx"), "output=/proc/m.onnx: nothing can be written"),
    ((*TRAIN, "paths.log_dir=/sys/predrnn_logs"), "the run folder /sys/predrnn_logs/train/runs/"),
    (("predrnn-eval", "ckpt_path=model.ckpt", "paths.log_dir=/proc/logs"), "set paths.log_dir=DIR (or PREDRNN_ROOT"),
    # a value holding `,` or `=` (a path), or another character of Hydra's grammar, without quotes
    (
        (*PREDICT, "input=a,b.npy"),
        "input=a,b.npy is a sweep of several values (Hydra reads ',' that way): for one "
        "value holding a comma quote it, e.g. \"input='a,b.npy'\"; for a list write input=[...]; to sweep, add -m",
    ),
    (
        (*PREDICT, "input=a=b.npy"),
        "input=a=b.npy is not an override Hydra can read (mismatched input '=' expecting "
        "<EOF>): a value holding = , [ ] # ~ or quotes must be quoted, e.g. \"input='a=b.npy'\"",
    ),
    ((*TRAIN, "data.test_file=runs#3.npy"), "must be quoted, e.g. \"data.test_file='runs#3.npy'\""),
    (("predrnn-eval", "ckpt_path=a,b.ckpt"), "e.g. \"ckpt_path='a,b.ckpt'\""),
    ((*H5, "data.path=x=1,y=2.h5"), "e.g. \"data.path='x=1,y=2.h5'\""),
    # data=xarray (CF netCDF / Zarr): each class of bad input through the entry point; every
    # variant of each class is a row of tests/data/test_xarray_datamodule.py's BAD_INPUTS
    ((*XARRAY, "data.variables=[rain]"), "data.variables names rain, which"),
    ((*XARRAY, "data.dims.y=rows"), "data.dims.y=rows is not a dimension of dbz"),
    ((*XARRAY, "data.path=shuffled.nc"), "times are not in order"),
    ((*XARRAY, "data.time_step=7min"), "give data.time_step=5min"),
    ((*XARRAY, "data.split_dates={val: '2020-01-01', test: '2021-06-01T16:00'}"), "is outside the record"),
    ((*XARRAY, "data.split_dates={val: '2021-06-01T15:00', test: '2021-06-01T15:20'}"), "holds no window of 8 times"),
    ((*XARRAY, "data.total_length=30"), "is longer than any gap-free run of the data"),
    ((*XARRAY, "data.select={y: [0, 1000]}"), "selects nothing"),
    ((*XARRAY, "data.no_data=refuse"), "set data.no_data=mask"),
    ((*XARRAY, "data.path=http://127.0.0.1:9/radar.nc"), "data.path=http://127.0.0.1:9/radar.nc"),
    ((*XARRAY, "data.path=https://user:hunter2@127.0.0.1:9/radar.nc"), "data.path=https://***@127.0.0.1:9/radar.nc"),
    ((*ARRAYS, "data.path=packed.nc", "data.key=t2m"), "carries CF packing/fill attributes (scale_factor=0.01"),
    ((*PREDICT, "input=packed.nc", "data.key=t2m"), "read it with data=xarray"),
    # --- rows: sevir ---
    (
        ("predrnn-train", "experiment=sevir", "logger=csv", "data.path=no_sevir_here"),
        "is not a folder: SEVIR is published on the AWS open data registry (aws s3 sync --no-sign-request s3://sevir",
    ),
    (("predrnn-train", "experiment=sevir", "logger=csv", "data.path=."), "has no CATALOG.csv: SEVIR is published"),
    (
        ("predrnn-train", "experiment=sevir_lr", "logger=csv", "data.path=.", "data.val_ratio=null"),
        "needs a val date, or val_ratio instead",
    ),
    # --- rows: weather ---
    (
        ("predrnn-train", "experiment=weatherbench_t2m", "logger=csv", "data.path=no_weather_here"),
        "not found: give a netCDF file",
    ),
    (
        ("predrnn-train", "experiment=weatherbench_t2m", "logger=csv", "data.path=no_weather_here"),
        "; WeatherBench is published at https://github.com/pangeo-data/WeatherBench: give data.path=<root>/weather_5_625deg/",
    ),
    (("predrnn-train", "experiment=weatherbench_t2m", "logger=csv", "data.path=radar.nc"), "names t2m, which"),
    (
        ("predrnn-train", "experiment=weatherbench_t2m", "logger=csv", "data.path=radar.nc"),
        "WeatherBench is published at",
    ),
    (
        ("predrnn-train", "experiment=taxibj", "logger=csv", "data.path=no_taxibj.npz"),
        "; TaxiBJ is published with OpenSTL",
    ),
    (
        ("predrnn-train", "experiment=taxibj", "logger=csv", "data.path=not_npy_members.npz"),
        "TaxiBJ is published with OpenSTL",
    ),
    (
        ("predrnn-train", "experiment=human36m", "logger=csv", "data.path=no_human_here"),
        "; Human3.6M is published at http://vision.imar.ro/human3.6m",
    ),
    ((*TRAIN, "metrics=weather"), "metrics.weather needs the data's latitudes, which MovingMNISTDataModule does not"),
    # --- rows: firsthour ---
    (("predrnn-eval",), "ckpt_path is required and was not given: add ckpt_path=…, e.g. predrnn-eval ckpt_path=last"),
    (("predrnn-eval", "ckpt_path=???"), "ckpt_path is required and was not given"),
    (("predrnn-predict", "input=clip.npy"), "ckpt_path is required and was not given"),
    (("predrnn-export", "ckpt_path=model.ckpt"), "output is required and was not given: add output=…, e.g."),
    (("predrnn-convert", "ckpt_path=bare.ckpt"), "add output=…, e.g. predrnn-convert output=native.ckpt"),
    (("predrnn-convert", "output=native.ckpt"), "e.g. predrnn-convert ckpt_path=official.ckpt"),
    (("predrnn-eval", "ckpt_path=model.ckpt", "num_media=abc"), "num_media='abc' must be an integer: e.g. num_media=2"),
    ((*TRAIN, "paths.log_dir=/tmp/" + "a" * 300), "path is longer than this system allows"),
    ((*TRAIN, "paths.log_dir=/tmp/" + "abcdefgh/" * 600), "set PREDRNN_ROOT=DIR (or paths.log_dir=DIR) to a shorter"),
    (("predrnn-convert", "ckpt_path=nope.ckpt", "output=n.ckpt"), "not found: give the path of the official"),
    # --- rows: inputs ---
    # a run folder that holds files (a user's, an earlier run's) is refused unless overwrite=true, on every entry point
    ((*TRAIN, "hydra.run.dir=."), "hydra.run.dir=. already holds files ("),
    ((*TRAIN, "hydra.run.dir=trained/run"), "hydra.run.dir=trained/run already holds files ("),
    (("predrnn-eval", "ckpt_path=model.ckpt", "hydra.run.dir=trained/run"), "set overwrite=true to write into it"),
    ((*PREDICT, "input=clip.npy", "output=p.npy", "hydra.run.dir=."), "hydra.run.dir=. already holds files"),
    (("predrnn-export", "ckpt_path=model.ckpt", "output=m.onnx", "hydra.run.dir=trained/run"), "already holds files"),
    (("predrnn-convert", "ckpt_path=bare.ckpt", "output=n.ckpt", "hydra.run.dir=."), "already holds files"),
    # an own metric whose compute() breaks the contract: one line naming it and what it returned
    (
        (*TRAIN, "+metrics.bad._target_=plugin_metrics.ReturnsTensor"),
        "metrics.bad (plugin_metrics.ReturnsTensor).compute() returned a tensor of shape (10,), not {name: 10 per-frame",
    ),
    (
        (*TRAIN, "+metrics.bad._target_=plugin_metrics.ExtraFrames"),
        "metrics.bad (plugin_metrics.ExtraFrames).compute() returned 13 per-frame values for 'err', not 10",
    ),
    ((*TRAIN, "+metrics.bad._target_=plugin_metrics.VectorWhole"), "a whole-forecast value of 10 numbers for 'err'"),
    ((*TRAIN, "+metrics.bad._target_=plugin_metrics.ReturnsList"), "compute() returned a list, not {name: 10"),
    (
        ("predrnn-eval", "ckpt_path=model.ckpt", "+metrics.bad._target_=plugin_metrics.ExtraFrames"),
        "metrics.bad (plugin_metrics.ExtraFrames).compute() returned 13 per-frame values",
    ),
    # --- rows: family ---
    (
        (*TRAIN, "model._target_=broken_networks.OneFrameShort"),
        "model._target_=broken_networks.OneFrameShort returned shape (1, 18, 1, 64, 64) for 20 frames where frames "
        "1..T-1 are (1, 19, 1, 64, 64)",
    ),
    (
        (*TRAIN, "model._target_=broken_networks.NotAModule"),
        "model._target_=broken_networks.NotAModule built a NotAModule, not a torch nn.Module",
    ),
    (
        (*TRAIN, "model._target_=broken_networks.NoDataArguments"),
        "model._target_=broken_networks.NoDataArguments has no in_channels, image_size, input_length: its "
        "constructor takes in_channels, image_size and input_length",
    ),
    (
        ("predrnn-train", "logger=csv", "model=simvp", "model.model_type=convlstm"),
        "model.model_type='convlstm' is unknown: use one of incepu, gsta, tau (any case)",
    ),
    (
        ("predrnn-train", "logger=csv", "model=simvp", "model.N_S=14"),
        "data.image_size=[64, 64] must be a multiple of 128 in height and width (N_S=14 halves the frame 7×; or a "
        "smaller model.N_S)",
    ),
    (
        (
            "predrnn-predict",
            f"ckpt_path={TESTS}/fixtures/simvp_parity/simvp.pth",
            "model=predrnn",
            "input=clip.npy",
        ),
        "openstl weight enc.enc.0.conv.conv.weight has no place in this model: set model=simvp",
    ),
    # --- rows: weights ---
    # a learning rate or weight decay that is not finite is refused before anything runs
    ((*TRAIN, "optim.lr=inf"), "optim.lr=inf must be finite: e.g. optim.lr=0.001"),
    ((*TRAIN, "optim.lr=1e400"), "optim.lr=inf must be finite"),
    ((*TRAIN, "optim.weight_decay=inf"), "optim.weight_decay=inf must be finite: e.g. optim.weight_decay=0.0"),
    # predict runs in the precisions it can (an autocast dtype, or none), as train and eval refuse others
    ((*PREDICT, "input=clip.npy", "precision=8-true"), "precision='8-true' is unknown: use one of 32-true"),
    ((*PREDICT, "input=clip.npy", "precision=bf16-true"), "e.g. precision=bf16-mixed"),
    ((*PREDICT, "input=clip.npy", "precision=16"), "precision='16' is unknown"),
    # sizes bounded by the memory they need before anything is allocated
    ((*PREDICT, "input=clip.npy", "num_predictions=1000000000"), "num_predictions=1000000000: predicting them needs"),
    (
        ("predrnn-export", "ckpt_path=model.ckpt", "output=m.onnx", "num_predictions=10000000"),
        "num_predictions=10000000: exporting them (the graph unrolls one step per frame) needs at least",
    ),
    (
        (
            "predrnn-export",
            "ckpt_path=model.ckpt",
            "format=exported-program",
            "output=m.pt2",
            "num_predictions=1000000000",
        ),
        "exporting them (the graph unrolls one step per frame) needs at least",
    ),
    # a suggested override is one the command accepts: E3D-LSTM's kernel is [t, h, w]
    (
        (
            "predrnn-convert",
            f"ckpt_path={TESTS / 'fixtures' / 'family_parity' / 'e3dlstm.pth'}",
            "output=n.ckpt",
            "model=e3dlstm",
            "model.hidden_channels=[8,8]",
            "model.patch_size=4",
            "model.kernel_size=[2,3,3]",
            "data.image_size=32",
            "data.input_length=10",
            "data.total_length=20",
        ),
        "set model.kernel_size=[2,5,5]",
    ),
    # --- rows: acc ---
    ((*TRAIN, "metrics=weather", "~metrics.weather"), "metrics.acc needs the data's latitudes, which MovingMNIST"),
    # --- rows: presets ---
    ((*XARRAY, "data.select={x: [1, 2, 3], y: [1, 2, 3]}"), "only one dimension can become channels"),
    ((*XARRAY, "data.select={time: [2019-01-01, 2019-01-02, 2019-01-03]}"), "must be one time or [first, last]"),
]


@pytest.fixture(autouse=True)
def _more_files(workdir):
    """Files for the rows above that the shared folder lacks: an .npz whose members are not .npy
    data, clips of 8x8 and 6x6 frames."""
    import zipfile

    import h5py
    import numpy as np

    path = workdir / "not_npy_members.npz"
    if not path.exists():
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("x_train.npy", b"not npy data")
            archive.writestr("x_test.npy", b"not npy data")
    from xarray_files import radar_dataset, radar_times, write_packed

    if not (workdir / "radar.nc").exists():
        radar_dataset(radar_times()).to_netcdf(workdir / "radar.nc")
        shuffled = radar_times(8, 0, 8)
        shuffled[[4, 5]] = shuffled[[5, 4]]
        radar_dataset(shuffled).to_netcdf(workdir / "shuffled.nc")
        write_packed(workdir / "packed.nc")
    for size in (8, 6):
        if not (workdir / f"tiny{size}.h5").exists():
            with h5py.File(workdir / f"tiny{size}.h5", "w") as f:
                f["x"] = np.random.default_rng(size).random((6, 12, size, size)).astype(np.float32)


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file() and not {"trained", "logs"} & set(p.parts)}  # fmt: skip


@pytest.mark.parametrize("argv, message", ROWS, ids=[" ".join(a[1:]) for a, _ in ROWS])
def test_one_line_exit_2_nothing_lost(argv, message, workdir, monkeypatch, capsys):
    before = _fingerprint(workdir)
    runs = set((workdir / "logs").glob("*/runs/*"))
    code, err = run_main(argv, workdir, monkeypatch, capsys)
    assert code == 2, err
    assert len(err) == 1, err
    assert err[0].startswith(f"{argv[0]}: error: ") and message in err[0], err[0]
    assert len(err[0]) < 400
    assert _fingerprint(workdir) == before  # no file written, changed or removed
    assert set((workdir / "logs").glob("*/runs/*")) == runs, "a failed run left its folder behind"
