# payivr: every set-up step a fresh machine needs lives here (Python packages and apt packages).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
APT_PACKAGES := chromium espeak-ng sox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

COMPOSE := docker compose -f asterisk/docker-compose.yml

.PHONY: help install lock system-packages lint test demo demo-terminal bench flow-diagram sounds \
	up down test-asterisk audit clean

help:
	@echo "make demo           run payivr on this machine with simulators (embedded defaults)"
	@echo "make demo-terminal  rehearse the caller's side of a payment in the terminal"
	@echo "make test           install everything, then ruff, mypy --strict and the test suite"
	@echo "make bench          benchmarks (not tests)"
	@echo "make up / down      a real Asterisk 22 + PostgreSQL + payivr with Docker compose"
	@echo "make test-asterisk  the end-to-end suite against the Asterisk on this host"
	@echo "make audit          known vulnerabilities in the dependencies (needs the internet)"

# Every dependency (and what builds payivr) comes from requirements.lock, each pinned with its
# sha256 hashes: pip refuses anything else. After changing pyproject.toml run `make lock`.
$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Needs pip-tools (pip install pip-tools) and the package index. requirements-runtime.lock
# (the container image's) is the same versions without the development extras.
lock:
	pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --extra dev --extra browser --extra fast \
		--output-file requirements.lock pyproject.toml requirements-build.in
	pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --constraint requirements.lock \
		--output-file requirements-runtime.lock pyproject.toml requirements-build.in

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
	$(BIN)/payivr demo

demo-terminal: $(INSTALLED)
	$(BIN)/payivr demo --terminal

flow-diagram: $(INSTALLED)
	@$(BIN)/payivr flow-diagram

# Known vulnerabilities in the installed dependencies. pip-audit asks PyPI's JSON API (or
# OSV): it needs the internet, which this project's CI machines do not have, so it is not
# part of `make test`; --strict fails when a package could not be checked.
audit: install
	$(BIN)/pip install -q pip-audit
	$(BIN)/pip-audit --skip-editable --strict

# Quick runs (about 5 minutes in all); each script's --help shows the full-size options, e.g.
# `$(BIN)/python bench/bench_calls.py --calls 100 1000` for the issue's concurrency table.
# bench_calls.py goes last: its last line is payivr's CPU per payment against the floor's.
bench: $(INSTALLED)
	$(BIN)/python bench/bench_flow.py
	$(BIN)/python bench/bench_gateway.py
	$(BIN)/python bench/bench_outbox.py
	$(BIN)/python bench/bench_login_flood.py
	$(BIN)/python bench/bench_calls.py --quick

sounds: install
	$(BIN)/python sounds/generate.py

# A real Asterisk: needs Docker with compose (not available on every machine).
# init-secrets.sh gives the secrets to the groups Asterisk and payivr run as: root's work.
up:
	$(SUDO) env ASTERISK_EXTERNAL_ADDRESS="$(ASTERISK_EXTERNAL_ADDRESS)" \
		$(if $(ASTERISK_GID),ASTERISK_GID=$(ASTERISK_GID)) $(if $(PAYIVR_GID),PAYIVR_GID=$(PAYIVR_GID)) \
		sh asterisk/init-secrets.sh
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

# The end-to-end suite against the Asterisk on this host (asterisk/install-local.sh or
# `make up`; secrets from asterisk/.secrets): prompts play at their real length, so it runs in
# TEST_WORKERS processes (pytest-xdist), each with its own phones and application names.
TEST_WORKERS ?= 4
test-asterisk: $(INSTALLED)
	PAYIVR_TEST_ARI_URL=http://127.0.0.1:8088 PAYIVR_TEST_ARI_USER=payivr \
	PAYIVR_TEST_ARI_PASSWORD="$$(cat asterisk/.secrets/ari_password)" \
	PAYIVR_TEST_AMI_HOST=127.0.0.1 PAYIVR_TEST_AMI_PORT=5038 PAYIVR_TEST_AMI_USER=payivr \
	PAYIVR_TEST_AMI_SECRET="$$(cat asterisk/.secrets/ami_secret)" \
	$(BIN)/pytest -q -n $(TEST_WORKERS) tests/e2e

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
