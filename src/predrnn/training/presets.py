"""The experiment and precision `predrnn-train` picks for this machine when the command line
names none (docs/cpu.md): the paper's settings with a GPU, the CPU preset without, and fp32 for
the CPU presets (bf16 did not keep the quality: `BF16_QUALITY`)."""

from __future__ import annotations

from predrnn.cpu_features import cpu_bf16


def choose_experiment(args: list[str], openmp_note: str | None = None) -> tuple[list[str], str | None]:
    """Without an `experiment=` override, the one that fits this machine: the paper's settings
    where a GPU is present, the CPU preset where none is (the paper's 4 × 128 network takes
    minutes per step on a CPU); then the precision of a CPU preset (`choose_precision`) and what
    the entry point chose for OpenMP (`openmp_note`); returns the arguments and the line that
    says so (printed once the run's config has passed its checks). An explicit experiment is
    always obeyed, and a run on other data (`data=arrays`) or with another network (`model=…`) gets none: the presets
    are PredRNN Moving MNIST benchmarks."""
    args, preset = _choose_preset(args)
    args, precision = choose_precision(args)
    said = [part for part in (preset, precision, openmp_note) if part]
    return args, ("predrnn-train: " + "; ".join(said)) if said else None


def _choose_preset(args: list[str]) -> tuple[list[str], str | None]:
    groups = {a.lstrip("+~").split("=")[0] for a in args}
    if {"experiment", "data", "model"} & groups:
        return args, None
    import torch

    if torch.cuda.is_available():
        choice, why = "paper_mnist", "a GPU is present: the paper's settings"
    else:
        choice, why = (
            "cpu_quick",
            "no GPU: the CPU preset, since the paper's 4 × 128 network takes minutes per step here",
        )
    other = "cpu_quick" if choice == "paper_mnist" else "paper_mnist"
    note = f"experiment={choice} ({why}); choose another with experiment=NAME (make train EXPERIMENT=NAME), e.g. experiment={other}"
    return [*args, f"experiment={choice}"], note


# the experiments that are CPU presets (docs/cpu.md); mnist_budget only where it runs on the CPU
CPU_PRESETS = {"cpu_quick": "always", "mnist_budget": "on a CPU"}
CPU_TRAINERS = ("trainer=cpu", "trainer=ddp_cpu", "trainer.accelerator=cpu")
# Measured (benchmarks/RESULTS.md, "bf16 on the CPU"): on a CPU with native bf16 the side by
# side's recipe in bf16 autocast trained in 0.68× the fp32 time; of three seeds, one ended with a
# 17 % higher test MSE (106.7 against 91.2), the others 1.0 % and 0.3 % lower: not reliably within the 2 %
# that would keep the quality. So the CPU presets stay in fp32 everywhere and say why; bf16 is
# one override away.
BF16_QUALITY = "0.68× the fp32 time, but 17 % higher test MSE in one of three seeds of the CPU side by side (benchmarks/RESULTS.md)"


def choose_precision(args: list[str], gpu: bool | None = None, bf16=None) -> tuple[list[str], str | None]:
    """The precision of a CPU preset run and the words that say which and why: fp32 (the
    config's 32-true), since bf16 autocast did not keep the quality where the CPU computes it
    natively (`BF16_QUALITY`) and is slower where it doesn't. Returns the arguments (unchanged)
    and those words. `speed=…` or `trainer.precision=…` given by the user win (nothing said),
    as does any experiment that is not a CPU preset. `gpu` and `bf16` (a
    `cpu_features.Bf16Support`) stand in for this machine's (tests)."""
    values = {a.lstrip("+~").split("=")[0]: a.split("=", 1)[-1] for a in args}
    experiment = values.get("experiment")
    if experiment not in CPU_PRESETS or {"speed", "trainer.precision"} & values.keys():
        return args, None
    if CPU_PRESETS[experiment] != "always":
        if gpu is None:
            import torch

            gpu = torch.cuda.is_available()
        on_cpu = not gpu or any(a.lstrip("+~") in CPU_TRAINERS for a in args)
        if not on_cpu:
            return args, None
    bf16 = cpu_bf16() if bf16 is None else bf16
    if bf16.native:
        return args, (f"fp32 ({bf16.reason()}, where bf16 autocast took {BF16_QUALITY}); "
                      "trainer.precision=bf16-mixed for its speed")  # fmt: skip
    return args, f"fp32 ({bf16.reason()}); trainer.precision=bf16-mixed to use it anyway"
