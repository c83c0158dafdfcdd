"""Whether torch.compile can build CPU kernels here.

Inductor turns a compiled graph on the CPU into C++ and builds it with the system's compiler
(`g++`, or `$CXX`). A machine without one, or with a broken one (`cannot execute 'cc1plus'`),
fails only at the first training step, deep inside inductor. These checks run a one-line
compile with the same compiler first, so that a run asking for compiled cells on the CPU stops
before it starts, with one line that says what to do.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

from predrnn.errors import ConfigError

_PROBE = "int main() { return 0; }\n"


def inductor_cpp_compilers() -> tuple[str, ...]:
    """The compilers inductor tries on the CPU, in its order (its `cpp.cxx` setting, which
    reads `$CXX` when torch is imported)."""
    try:
        import torch._inductor.config as inductor_config

        cxx = inductor_config.cpp.cxx
        found = tuple(c for c in (cxx if isinstance(cxx, (list, tuple)) else (cxx,)) if c)
    except (ImportError, AttributeError):  # a torch whose inductor keeps it elsewhere
        found = ()
    return found or (os.environ.get("CXX", "g++"),)


@functools.lru_cache(maxsize=8)
def _probe(compiler: str) -> str | None:
    """None if `compiler` builds a C++ translation unit, else the first line of its complaint that names an error."""
    try:
        proc = subprocess.run(
            [compiler, "-x", "c++", "-fsyntax-only", "-"],
            input=_PROBE, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except FileNotFoundError:
        return f"{compiler} is not installed"
    except (OSError, subprocess.SubprocessError) as err:
        return f"{compiler} did not run ({err})"
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [f"{compiler} exited with {proc.returncode}"])[0]


def cpu_compile_problem() -> str | None:
    """None if inductor can build CPU kernels here, else why not (one line)."""
    if sys.platform == "win32":  # MSVC's `cl` takes other flags; inductor checks it itself there
        return None
    missing = []
    for compiler in inductor_cpp_compilers():
        problem = _probe(compiler)
        if problem is None or shutil.which(compiler) is not None:
            return problem  # inductor takes the first compiler it finds, working or not
        missing.append(problem)
    return "; ".join(missing)


def require_cpu_compiler(key: str, mode: str | None, device: str) -> None:
    """Raise a one-line ConfigError naming the setting (`key=mode`, e.g. `module.compile=default`)
    when cells are to be compiled on the CPU (`device`: a torch device type) and there is no
    working C++ compiler for torch.compile; nothing to check otherwise."""
    if not mode or device != "cpu":
        return
    problem = cpu_compile_problem()
    if problem is not None:
        raise ConfigError(
            f"{key}={mode} on the CPU needs a working C++ compiler for torch.compile ({problem}): "
            f"install one (Debian/Ubuntu: apt-get install g++), point $CXX at one, or set {key}=null"
        )
