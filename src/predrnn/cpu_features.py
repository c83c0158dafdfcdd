"""Whether this CPU computes bf16 natively, read from the CPU's own flags (no torch needed).

x86 CPUs with AVX512-BF16 (AMD Zen 4, Intel Cooper Lake and later) or AMX-BF16 (Intel
Sapphire Rapids and later) run bf16 convolutions in hardware: autocast to bf16 takes about
0.65-0.7× the fp32 time of a PredRNN step there. Elsewhere torch emulates bf16 with fp32
arithmetic and conversions, which is slower than plain fp32; ARM CPUs with the BF16 extension
(`bf16` in /proc/cpuinfo's Features) compute it too. docs/cpu.md."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

# the /proc/cpuinfo flags that mean bf16 arithmetic in hardware, in the order they are named
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


@dataclass(frozen=True)
class Bf16Support:
    """`kind` is "native" or "emulated"; `flags` the native-bf16 flags the CPU reports."""

    kind: str
    flags: tuple[str, ...]

    @property
    def native(self) -> bool:
        return self.kind == "native"

    def record(self) -> dict:
        """The JSON fields of a benchmark line."""
        return {"cpu_bf16": self.kind, "cpu_bf16_flags": list(self.flags)}

    def reason(self) -> str:
        """Why, in a few words, for the run's first line."""
        if self.native:
            return f"this CPU computes bf16 natively ({', '.join(self.flags)})"
        return "this CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag), where bf16 is slower than fp32"


def bf16_support(flags: str | list[str] | tuple[str, ...]) -> Bf16Support:
    """Native or emulated bf16 from the CPU's flags: a /proc/cpuinfo `flags` (x86) or `Features`
    (ARM) line, with or without its `flags :` prefix, or a list of flag names."""
    if isinstance(flags, str):
        flags = flags.split(":", 1)[1] if ":" in flags else flags
        flags = flags.split()
    present = {f.strip().lower() for f in flags}
    found = tuple(f for f in NATIVE_BF16_FLAGS if f in present)
    return Bf16Support("native" if found else "emulated", found)


def cpuinfo_flags(text: str) -> str:
    """The first `flags` (x86) or `Features` (ARM) line of /proc/cpuinfo's text ('' if none)."""
    for line in text.splitlines():
        key = line.split(":", 1)[0].strip().lower()
        if key in ("flags", "features"):
            return line
    return ""


@functools.cache
def cpu_bf16() -> Bf16Support:
    """This machine's bf16 support (emulated where /proc/cpuinfo can't be read: not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return Bf16Support("emulated", ())
    return bf16_support(cpuinfo_flags(text))
