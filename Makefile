# Every target creates .venv on first use and installs what it needs: train the core (dqnlib
# and torch), lint the dev extra, lab the notebooks extra, test and bench the dev, notebooks and
# sweep extras. Each install set has a stamp file, so later calls start at once; a set is
# installed again when pyproject.toml changes, and an extra set goes on top of the core without
# reinstalling torch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.installed-core
TEST_SET := $(VENV)/.installed-dev,notebooks,sweep
# torch==2.13.0 is meant to be the CPU build. On dqnlib's development machine a pip config
# (find-links) supplies torch-2.13.0+cpu from local disk. Without such a config pip takes torch
# from PyPI, whose 2.13.0 for Linux x86_64 is a CUDA build (a 527 MB wheel plus nvidia-*-cu13
# packages, several GB). For the CPU build (a 192 MB wheel) from PyTorch's index, give the first
# make that creates .venv (after `make clean-venv` where a CUDA build is installed)
#   make train TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

GAME ?= Breakout
RUN_DIR ?= runs/breakout
STEPS ?=  # empty: the command line's default (800,000 environment steps)

.PHONY: train test lint lab bench clean-venv

# setuptools warns about every editable install (a BuildBackendWarning, a UserWarning), --quiet or not.
$(CORE): pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(strip $(TORCH_INDEX)),--index-url $(TORCH_INDEX))
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install --quiet -e .
	touch $@

# Extras on top of the core: the stamp .installed-dev,notebooks installs '.[dev,notebooks]'.
$(VENV)/.installed-%: $(CORE)
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install --quiet -e '.[$*]'
	touch $@

# Exit code 130 is a stop the user asked for (Ctrl-C, SIGTERM): the checkpoint is written and
# the command says how to continue, so make reports no error for it. A terminal's Ctrl-C (or a
# scheduler's SIGTERM to the job) also reaches the recipe's shell; `trap : INT TERM` keeps it
# alive until the trainer has saved.
train: $(CORE)
	trap : INT TERM; $(BIN)/python -m dqnlib train --game $(GAME) --run-dir $(RUN_DIR) $(if $(strip $(STEPS)),--steps $(STEPS)) \
		|| [ $$? -eq 130 ]

test: $(TEST_SET) lint
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check dqnlib tests benchmarks docs/results notebooks
	$(BIN)/ruff format --check dqnlib tests benchmarks docs/results

# Containers and CI run as root, where JupyterLab refuses to start without --allow-root.
lab: $(VENV)/.installed-notebooks
	$(BIN)/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# The peers benchmark needs Stable-Baselines3 and a CleanRL clone, which make does not install:
# see benchmarks/peers/bench_peers.py's docstring, then run
# .venv/bin/python benchmarks/peers/bench_peers.py --cleanrl CLEANRL_CHECKOUT --write BENCHMARKS.md
# bench_busy.py runs the test suite as one of its loads, so bench installs what test does.
bench: $(TEST_SET)
	$(BIN)/python benchmarks/bench_envs.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_replay.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_cartpole.py --seeds 10 --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_learner_share.py --rounds 3 --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_busy.py --rounds 2 --write BENCHMARKS.md

clean-venv:
	rm -rf $(VENV)
