# predrnn: `make help` lists the targets. Every target sets up .venv itself when needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU-only machines get this torch first, the CPU build (a local wheel, else PyTorch's CPU
# index), so that pip doesn't pull a multi-GB CUDA build; machines with nvidia-smi let pip pick
# torch freely. scripts/choose_torch.sh decides, and says what it installs, before any download.
CPU_TORCH ?= torch==2.13.0
ARGS ?=
# empty: predrnn-train picks the preset that fits the machine (paper_mnist with a GPU, cpu_quick without)
EXPERIMENT ?=
CKPT ?= last
INPUT ?=
OUTPUT ?= predictions.npy
FORMAT ?= onnx
EXPORT_OUTPUT ?= model.$(if $(filter torchscript,$(FORMAT)),pt,$(if $(filter exported-program,$(FORMAT)),pt2,onnx))
SWEEP ?= $(shell ls -td logs/train/multiruns/* 2>/dev/null | head -1)

.PHONY: help install test test-fast lint format docs train smoke eval predict export sweep report bench bench-data bench-data-memory clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@torch_args=$$(PYTHON=$(BIN)/python CPU_TORCH="$(CPU_TORCH)" scripts/choose_torch.sh) && \
	if [ -n "$$torch_args" ]; then $(BIN)/python -m pip install -q $$torch_args; fi
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@
	@echo "installed: 'source $(VENV)/bin/activate' makes predrnn-train, predrnn-eval, ... commands of this shell"
	@echo "           (or call them as $(CURDIR)/$(BIN)/predrnn-...; the make targets need neither)"

install: $(VENV)/.installed ## create .venv and install predrnn with its dev tools

# tests run two at a time on 2 cores: one thread per process (the notebook's kernel too), or
# their OpenMP threads spin against each other; files in the order tests/conftest.py gives
# (longest first: xdist's default reorder by test count would start the one-test, three-minute
# training last)
test: install ## run the whole test suite (installs first)
	OMP_NUM_THREADS=1 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --timeout 900 --nbmake tests notebooks $(ARGS)

test-fast: install ## run the tests not marked slow
	OMP_NUM_THREADS=1 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow" tests $(ARGS)

lint: install ## ruff check and format check
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install ## ruff fix and format
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

# the docs site from docs/ and the docstrings (the API reference is generated from src/ at build
# time); --strict: a broken link or reference fails the build. Open site/index.html.
docs: install ## build the docs site into site/ (mkdocs --strict)
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict --site-dir site $(ARGS)

train: install ## train PredRNN on Moving MNIST (the preset that fits the machine, or EXPERIMENT=name); overrides in ARGS="..."
	$(BIN)/predrnn-train $(if $(EXPERIMENT),experiment=$(EXPERIMENT)) $(ARGS)

smoke: install ## a tiny training run on CPU (seconds)
	$(BIN)/predrnn-train experiment=smoke $(ARGS)

# a training run's checkpoint is scored on the run's own test set, metrics and baselines (its
# .hydra/config.yaml) unless ARGS sets data.* (or metrics, baselines)
eval: install ## evaluate a checkpoint on its run's own test set: make eval CKPT=path/to.ckpt (default: the newest last.ckpt)
	$(BIN)/predrnn-eval ckpt_path=$(CKPT) $(ARGS)

predict: install ## predict: make predict CKPT=... INPUT=frames.npy OUTPUT=predictions.npy
	$(BIN)/predrnn-predict ckpt_path=$(CKPT) input=$(INPUT) output=$(OUTPUT) $(ARGS)

export: install ## export for deployment: make export CKPT=... FORMAT=onnx|torchscript|exported-program [EXPORT_OUTPUT=model.onnx]
	$(BIN)/predrnn-export ckpt_path=$(CKPT) format=$(FORMAT) output=$(EXPORT_OUTPUT) $(ARGS)

# 4 jobs × 300 steps on one digit at 48 × 48 (20 pixels to move: at 32 × 32 a 28-pixel digit has 4,
# and every curve ends the same), each curve fitted to the 300 steps (sampling.end=1), so the curves
# differ in how long the model trains on its own outputs; about 1 CPU minute per job. Each job
# shows its progress (a bar on a terminal, a plain line every 10 % otherwise: the smoke
# experiment turns the bar off, this puts it back).
SWEEP_ARGS ?= trainer.max_steps=300 sampling.end=1.0 optim.lr=3e-3 data.image_size=48 data.num_digits=1 \
	data.batch_size=8 data.train_size=2400 data.val_size=64 data.test_size=64 \
	"callbacks.progress_bar={_target_:predrnn.training.progress.StepProgressBar}"

sweep: install ## a small multirun comparing the sampling curves (CPU-sized: about 4 CPU minutes)
	$(BIN)/predrnn-train -m experiment=smoke hparams_search=sampling_curves $(SWEEP_ARGS) $(ARGS)

report: install ## table + plot of a multirun folder: make report SWEEP=logs/train/multiruns/<time> (default: newest)
	$(BIN)/predrnn-report $(SWEEP) $(ARGS)

bench: install ## time the training step in every mode (JSON lines)
	$(BIN)/predrnn-bench $(ARGS)

bench-data: install ## sequences/s of the Moving MNIST generator (JSON lines)
	$(BIN)/predrnn-bench --suite data $(ARGS)

bench-data-memory: install ## peak RSS of training from an HDF5 file larger than a memory budget (JSON line)
	$(BIN)/python benchmarks/data_memory.py $(ARGS)

clean: ## remove caches and build leftovers, the docs site included (keeps .venv and logs/)
	rm -rf .pytest_cache .ruff_cache build dist site src/*.egg-info
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
