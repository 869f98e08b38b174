# Every target creates .venv and installs dqnlib into it on first use; the stamp
# file makes later calls start at once (it is rebuilt when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dqnlib-installed

GAME ?= Breakout
RUN_DIR ?= runs/breakout
STEPS ?=  # empty: the command line's default (800,000 environment steps)

.PHONY: train test lint lab bench clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch 2.13.0; a bare "torch" would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# setuptools warns about every editable install (a BuildBackendWarning, a UserWarning), --quiet or not.
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install --quiet -e '.[notebooks,dev,sweep]'
	touch $(STAMP)

# Exit code 130 is a stop the user asked for (Ctrl-C, SIGTERM): the checkpoint is written and
# the command says how to continue, so make reports no error for it. A terminal's Ctrl-C (or a
# scheduler's SIGTERM to the job) also reaches the recipe's shell; `trap : INT TERM` keeps it
# alive until the trainer has saved.
train: $(STAMP)
	trap : INT TERM; $(BIN)/python -m dqnlib train --game $(GAME) --run-dir $(RUN_DIR) $(if $(strip $(STEPS)),--steps $(STEPS)) \
		|| [ $$? -eq 130 ]

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check dqnlib tests benchmarks docs/results
	$(BIN)/ruff format --check dqnlib tests benchmarks docs/results

# Containers and CI run as root, where JupyterLab refuses to start without --allow-root.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# The peers benchmark needs Stable-Baselines3 and a CleanRL clone, which make does not install:
# see benchmarks/peers/bench_peers.py's docstring, then run
# .venv/bin/python benchmarks/peers/bench_peers.py --cleanrl CLEANRL_CHECKOUT --write BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_envs.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_replay.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_cartpole.py --seeds 10 --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_learner_share.py --rounds 3 --write BENCHMARKS.md

clean-venv:
	rm -rf $(VENV)
