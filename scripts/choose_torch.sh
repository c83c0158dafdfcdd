#!/usr/bin/env bash
# Where `make install` gets torch from, decided before anything is downloaded.
#
# Prints the `pip install` arguments for torch on stdout (nothing: let pip choose with the
# package) and says on stderr what will be installed and from where:
#   - nvidia-smi is found: a GPU machine, pip picks torch (the CUDA build) with the package;
#   - torch is already importable in $PYTHON: nothing to install;
#   - a CPU wheel of $CPU_TORCH lies in a local wheel folder (pip's find-links): that wheel;
#   - PyTorch's CPU wheel index answers: the CPU build from it (about 200 MB);
#   - none of these: a warning that pip will fetch the default (CUDA, several GB) build from
#     PyPI, and the command that gets the CPU build instead.
# Every probe can be replaced for tests: NVIDIA_SMI, PYTHON, WHEEL_DIRS (space-separated),
# TORCH_CPU_INDEX, PROBE (a command given a URL, succeeding when it answers).
set -u
CPU_TORCH=${CPU_TORCH:-torch==2.13.0}
PYTHON=${PYTHON:-python3}
NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
PROBE=${PROBE:-"curl -sfI --max-time 5 -o /dev/null"}
if [ -z "${WHEEL_DIRS+set}" ]; then
    WHEEL_DIRS="${PIP_FIND_LINKS:-} $("$PYTHON" -m pip config get global.find-links 2>/dev/null || true)"
fi
say() { echo "make install: $*" >&2; }

if command -v "$NVIDIA_SMI" >/dev/null 2>&1; then
    say "GPU found (nvidia-smi): pip chooses the torch build (CUDA) with the package"
    exit 0
fi
if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    say "torch is installed already: keeping it"
    exit 0
fi
version=${CPU_TORCH#*==}
name=${CPU_TORCH%%[=<>!~]*}
for dir in $WHEEL_DIRS; do
    dir=${dir#file://}
    for wheel in "$dir"/"$name"-"$version"+cpu-*.whl; do
        if [ -f "$wheel" ]; then
            say "no GPU: installing the local CPU wheel $wheel"
            echo "$CPU_TORCH"
            exit 0
        fi
    done
done
if $PROBE "$TORCH_CPU_INDEX/$name/" >/dev/null 2>&1; then
    say "no GPU: downloading the CPU build of $CPU_TORCH (about 200 MB) from PyTorch's CPU index $TORCH_CPU_INDEX"
    echo "$CPU_TORCH --index-url $TORCH_CPU_INDEX --extra-index-url https://pypi.org/simple"
    exit 0
fi
say "WARNING: no GPU, no local CPU wheel of $CPU_TORCH, and $TORCH_CPU_INDEX does not answer: pip will" \
    "download $CPU_TORCH from PyPI, on Linux the CUDA build (several GB). For the CPU build instead, run" \
    "first: $PYTHON -m pip install '$CPU_TORCH' --index-url $TORCH_CPU_INDEX (or give a local wheel's" \
    "folder in PIP_FIND_LINKS)"
echo "$CPU_TORCH"
