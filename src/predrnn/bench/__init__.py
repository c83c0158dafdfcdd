"""The benchmark harness behind `predrnn-bench` (docs/cpu.md, README "The fast path and
benchmarks"): the modes, each a `speed=<mode>` config (`modes`); the networks timed, at the
sizes of the presets (`networks`); the timed training step, around the training module's own
loss (`step`); clocks, memory and the JSON lines (`measure`); and the suites (`suites`)."""
