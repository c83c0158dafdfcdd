"""The experiment and precision `predrnn-train` picks for this machine when the command line
names none (docs/cpu.md): the paper's settings with a GPU, the CPU preset without, and for the
CPU presets bf16 after an fp32 start where the CPU computes bf16 natively and that kept the
preset's quality, fp32 elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class CpuPreset:
    """A CPU preset: where it counts as one ("always", or "on a CPU": only where it runs on the
    CPU), its overrides on a CPU that computes bf16 natively (none: fp32) and what was measured
    there (benchmarks/RESULTS.md, "bf16 on the CPU"), for the run's first line."""

    runs: str
    native_bf16: tuple[str, ...]
    measured: str


# The experiments that are CPU presets (docs/cpu.md). bf16 from the first step lost 17 % of test
# MSE in one seed of three of the CPU side by side; after an fp32 start (`speed=bf16_fp32_start`)
# the side by side's recipe kept the fp32 quality on every seed, cpu_quick's 600 steps did not.
CPU_PRESETS = {
    "cpu_quick": CpuPreset(
        "always", (),
        "but bf16 after an fp32 start cost this preset up to 4.4 % test MSE over three seeds for 0.82× the time",
    ),
    "mnist_budget": CpuPreset(
        "on a CPU", ("speed=bf16_fp32_start",),
        "it kept the fp32 quality (test MSE within 2 % on each of three seeds) in 0.65× the fp32 time in the CPU "
        "side by side",
    ),
}  # fmt: skip
CPU_TRAINERS = ("trainer=cpu", "trainer=ddp_cpu", "trainer.accelerator=cpu")


def choose_precision(args: list[str], gpu: bool | None = None, bf16=None) -> tuple[list[str], str | None]:
    """The precision of a CPU preset run and the words that say which and why: on a CPU that
    computes bf16 natively, the preset's measured choice (`CpuPreset.native_bf16`: bf16 autocast
    after an fp32 start where it kept the fp32 quality, fp32 where it did not), and fp32 (the
    config's 32-true) where the CPU emulates bf16, which is slower than fp32. Returns the
    arguments (with the preset's overrides added where bf16 is chosen) and those words.
    `speed=…` or `trainer.precision=…` given by the user win (nothing said), as does any
    experiment that is not a CPU preset. `gpu` and `bf16` (a `cpu_features.Bf16Support`) stand
    in for this machine's (tests)."""
    values = {a.lstrip("+~").split("=")[0]: a.split("=", 1)[-1] for a in args}
    preset = CPU_PRESETS.get(values.get("experiment"))
    if preset is None or {"speed", "trainer.precision"} & values.keys():
        return args, None
    if preset.runs != "always":
        if gpu is None:
            import torch

            gpu = torch.cuda.is_available()
        on_cpu = not gpu or any(a.lstrip("+~") in CPU_TRAINERS for a in args)
        if not on_cpu:
            return args, None
    bf16 = cpu_bf16() if bf16 is None else bf16
    where = "benchmarks/RESULTS.md"
    if not bf16.native:
        return args, f"fp32 ({bf16.reason()}); trainer.precision=bf16-mixed to use it anyway"
    if not preset.native_bf16:
        return args, f"fp32 ({bf16.reason()}, {preset.measured}: {where}); speed=bf16_fp32_start for its speed"
    chosen = " ".join(preset.native_bf16)
    return [*args, *preset.native_bf16], (
        f"{chosen}: bf16 autocast after an fp32 start ({bf16.reason()}: {preset.measured}: {where}); "
        "trainer.precision=32-true for fp32"
    )
