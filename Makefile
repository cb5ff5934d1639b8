# kafka-dedup: `make` lists the targets. A fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
JARS_DIR := build/jars
JARS_STAMP := $(JARS_DIR)/.resolved
MVN := mvn -B -q -s infra/jvm/settings.xml -f infra/jvm/pom.xml
BROKER_PORT ?= 9092
BROKER_DIR ?= data/broker

.PHONY: help setup jars test lint format demo broker-up broker-down clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

setup: $(VENV_STAMP) $(JARS_STAMP) ## create .venv/ with the package (editable, dev extras) and resolve jars

$(VENV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

jars: $(JARS_STAMP) ## resolve the JVM jars (Spark add-ons, Kafka broker) through Maven

$(JARS_STAMP): infra/jvm/pom.xml infra/jvm/settings.xml
	@command -v mvn >/dev/null || { echo "mvn not found: install Maven (apt-get install maven)"; exit 1; }
	rm -rf $(JARS_DIR)/spark $(JARS_DIR)/broker
	$(MVN) -P spark package
	$(MVN) -P broker package
	@touch $@

test: setup ## run the whole test suite (starts its own broker and Spark)
	$(BIN)/python -m pytest

lint: setup ## ruff check, ruff format --check, mypy on lib/
	$(BIN)/ruff check lib jobs tests bench
	$(BIN)/ruff format --check lib jobs tests bench
	$(BIN)/mypy

format: setup ## format the code with ruff
	$(BIN)/ruff check --fix lib jobs tests bench
	$(BIN)/ruff format lib jobs tests bench

broker-up: setup ## start the local Kafka broker (BROKER_PORT, BROKER_DIR)
	$(BIN)/kafka-dedup broker start --port $(BROKER_PORT) --data-dir $(BROKER_DIR)

broker-down: ## stop the local Kafka broker
	@if [ -x $(BIN)/kafka-dedup ]; then $(BIN)/kafka-dedup broker stop --data-dir $(BROKER_DIR); fi

clean: broker-down ## remove data/, build/ and caches (keeps .venv/)
	rm -rf data build .pytest_cache .mypy_cache .ruff_cache
