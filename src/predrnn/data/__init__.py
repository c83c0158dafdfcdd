"""Moving MNIST: digit sources, the generator and the Lightning data module."""
