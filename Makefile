# payivr: every set-up step a fresh machine needs lives here (Python packages and apt packages).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
APT_PACKAGES := chromium espeak-ng sox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install system-packages lint test demo demo-terminal bench flow-diagram sounds clean

help:
	@echo "make demo       run payivr on this machine with simulators (embedded defaults)"
	@echo "make test       install everything, then ruff, mypy --strict and the test suite"
	@echo "make bench      benchmarks (not tests)"

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,browser]'
	touch $@

install: $(INSTALLED) system-packages

# Debian packages: Chromium for the browser tests, espeak-ng and sox for the prompt recordings.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(INSTALLED)
	$(BIN)/ruff check payivr tests bench sounds
	$(BIN)/mypy payivr

test: install lint
	$(BIN)/pytest -q

demo: install
	$(BIN)/payivr demo --terminal

demo-terminal: $(INSTALLED)
	$(BIN)/payivr demo --terminal

flow-diagram: $(INSTALLED)
	@$(BIN)/payivr flow-diagram

bench: $(INSTALLED)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

sounds: install
	$(BIN)/python sounds/generate.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
