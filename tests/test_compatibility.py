"""One module answers whether data, overrides and a checkpoint belong together
(`predrnn.compatibility`): the data modules describe what they serve, the checks decide, with
the one-line messages the commands print."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from predrnn.compatibility import (
    ServedFrames,
    check_data,
    check_input_length,
    check_weights_fit,
    refuse_model_overrides,
)
from predrnn.errors import CheckpointError, DataError


def network(c=1, h=16, w=16, j=4, **more):
    return SimpleNamespace(in_channels=c, image_size=(h, w), input_length=j, **more)


def test_data_of_another_shape_is_named_as_its_module_describes_it():
    served = ServedFrames((3, 8, 8), "data.path=x.npy frames are {shape}", "give data of that shape")
    check_data(ServedFrames((1, 16, 16), "-", "-"), network())
    with pytest.raises(DataError, match=r"^data.path=x.npy frames are 8x8x3, the model was trained on 16x16x1: give"):
        check_data(served, network())
    generated = ServedFrames(None, "", "", rendered="Moving MNIST is square and grey", smallest=(28, "a digit"))
    with pytest.raises(DataError, match="the model takes 16x32x1 frames; Moving MNIST is square and grey"):
        check_data(generated, network(h=16, w=32))
    with pytest.raises(DataError, match="the model takes 16x16 frames, smaller than a digit"):
        check_data(generated, network())


def test_actions_are_checked_where_the_data_can_serve_them():
    reads = network(conditioning=("actions",), action_channels=4)
    arrays = ServedFrames((1, 16, 16), "-", "-", where="data.path=x.npy", actions_key="a", reads_actions=True)
    with pytest.raises(DataError, match="the model reads actions .4 values per frame., data.path=x.npy has none"):
        check_data(arrays, reads)
    with pytest.raises(DataError, match="data.actions_key=a gives 3 values per frame, the model was trained on 4"):
        check_data(ServedFrames(**{**arrays.__dict__, "action_channels": 3}), reads)
    check_data(ServedFrames(**{**arrays.__dict__, "action_channels": 4}), reads)


def test_overrides_and_weights_against_a_checkpoint():
    refuse_model_overrides("m.ckpt", "predrnn.models.PredRNN", "predrnn.models.PredRNN", ["model=predrnn", "seed=1"])
    with pytest.raises(CheckpointError, match="^model.kernel_size=3 does nothing: ckpt_path=m.ckpt carries"):
        refuse_model_overrides("m.ckpt", "a.B", "a.B", ["model.kernel_size=3"])
    with pytest.raises(CheckpointError, match="holds the network a.B, not c.D .model=d.: remove model=d"):
        refuse_model_overrides("m.ckpt", "a.B", "c.D", ["model=d"])
    with pytest.raises(CheckpointError, match="its data's input_length=5, its network's input_length=4"):
        check_input_length({"datamodule_hyper_parameters": {"input_length": 5}}, network(), "m.ckpt")
    own = {"w": torch.zeros(2, 3)}
    check_weights_fit(own, {"w": torch.ones(2, 3)}, "m.ckpt")
    with pytest.raises(CheckpointError, match=r"does not fit the model \(v unexpected; w is \(3,\) here \(2, 3\)\)"):
        check_weights_fit(own, {"w": torch.ones(3), "v": torch.ones(1)}, "m.ckpt")
