# kafka-dedup: `make` lists the targets. A fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
JARS_DIR := build/jars
JARS_STAMP := $(JARS_DIR)/.resolved
# checkov pins boto3/botocore/networkx/packaging versions that conflict with the project's own,
# so the IaC security scanner lives in its own virtualenv.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
CHECKOV_VERSION := 3.3.30
AWS_TEMPLATES := infra/aws/kafka-dedup.yaml
MVN := mvn -B -q -Dstyle.color=never -s infra/jvm/settings.xml -f infra/jvm/pom.xml
REGISTRY_DIR := build/registry
REGISTRY_APP := $(REGISTRY_DIR)/quarkus-app/quarkus-run.jar
# Apicurio's own application.properties asks for a legacy jar in its prod profile, which only a
# property of that same profile overrides (and an XML element cannot be named %prod...).
MVN_REGISTRY := mvn -B -q -Dstyle.color=never -s infra/registry/settings.xml -f infra/registry/pom.xml \
	'-D%prod.quarkus.package.type=fast-jar'
# Maven's own output (download lines, colour codes) goes to a log, printed only if it fails.
QUIETLY := bash -c 'log=$$(mktemp); "$$@" >"$$log" 2>&1 || { status=$$?; cat "$$log"; rm -f "$$log"; exit $$status; }; rm -f "$$log"' quietly
BROKER_PORT ?= 9092
BROKER_DIR ?= data/broker
CLUSTER_PORT ?= 7077
CLUSTER_DIR ?= data/cluster

.PHONY: help setup jars registry test lint format demo broker-up broker-down clean aws-package bench-ingest bench-merge bench-steady bench-mapping bench-reconcile bench-forensics bench-readme chaos postgres-bin cluster-up cluster-down cluster-test

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-16s %s\n", $$1, $$2}'

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
	@echo "mvn: the Spark add-on jars and the Kafka broker (infra/jvm/pom.xml; its log shows on failure)"
	@$(QUIETLY) $(MVN) -P spark package
	@$(QUIETLY) $(MVN) -P broker package
	@touch $@

registry: $(REGISTRY_APP) ## build the local schema registry (Apicurio, Confluent-compatible API) through Maven

$(REGISTRY_APP): infra/registry/pom.xml infra/registry/settings.xml
	@command -v mvn >/dev/null || { echo "mvn not found: install Maven (apt-get install maven)"; exit 1; }
	rm -rf $(REGISTRY_DIR)
	@echo "mvn: the local schema registry (infra/registry/pom.xml; its log shows on failure)"
	@$(QUIETLY) $(MVN_REGISTRY) package

demo: setup ## the main job on embedded defaults: duplicates in, dedup, downstream, reconcile
	$(BIN)/python -m kafka_dedup.demo

bench-ingest: setup registry ## benchmark: 1M events, plain append vs full pipeline (same-run ratio), then bench-mapping
	$(BIN)/python bench/ingest/bench_ingest.py
	$(BIN)/python bench/ingest/bench_mapping.py
	$(BIN)/python bench/readme.py

bench-merge: setup ## benchmark: MERGE cost per batch against 1M and 10M-row tables (deletion vectors vs rewrite)
	$(BIN)/python bench/merge/bench_merge_growth.py
	$(BIN)/python bench/readme.py

bench-mapping: setup registry ## benchmark: the deliveries write of an envelope topic vs mapped JSON and Avro topics
	$(BIN)/python bench/ingest/bench_mapping.py
	$(BIN)/python bench/readme.py

STEADY_DURATION ?= 10 minutes
bench-steady: setup ## benchmark: 5,000 records/s into interval-trigger ingest, latency and memory
	$(BIN)/python bench/steady/bench_steady.py --duration '$(STEADY_DURATION)'
	$(BIN)/python bench/readme.py

bench-reconcile: setup ## benchmark: reconcile 10M events vs 10M side effects (Spark, DuckDB, embedded bound)
	$(BIN)/python bench/reconcile/bench_reconcile.py
	$(BIN)/python bench/readme.py

bench-forensics: setup ## benchmark: cold forensics summary/trace on 1M deliveries, DuckDB vs Spark
	$(BIN)/python bench/forensics/bench_forensics.py
	$(BIN)/python bench/readme.py

bench-readme: setup ## paste every bench's results file into README's Measured section
	$(BIN)/python bench/readme.py

chaos: setup ## fault injection: 20 ingest SIGKILLs, 3 broker SIGKILLs, exact table check (long; short version in make test)
	$(BIN)/python bench/chaos/run_chaos.py
	$(BIN)/python bench/readme.py

# The downstream tests start a throwaway PostgreSQL server: install Debian's package once.
postgres-bin: ## install PostgreSQL server binaries (Debian package) when they are missing
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

test: setup postgres-bin registry ## run the whole test suite (starts its own broker, registry and Spark)
	$(BIN)/python -m pytest

lint: setup $(TOOLS_STAMP) ## ruff, mypy on lib/, cfn-lint and checkov on infra/aws
	$(BIN)/ruff check lib jobs tests bench
	$(BIN)/ruff format --check lib jobs tests bench
	$(BIN)/mypy
	$(BIN)/cfn-lint $(AWS_TEMPLATES)
	$(TOOLS_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		$(addprefix -f ,$(AWS_TEMPLATES))

$(TOOLS_STAMP):
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install -q 'checkov==$(CHECKOV_VERSION)'
	@touch $@

aws-package: setup ## build the EMR Serverless job bundle locally (kafka-dedup aws package --no-upload)
	$(BIN)/kafka-dedup aws package --no-upload

format: setup ## format the code with ruff
	$(BIN)/ruff check --fix lib jobs tests bench
	$(BIN)/ruff format lib jobs tests bench

broker-up: setup ## start the local Kafka broker (BROKER_PORT, BROKER_DIR)
	$(BIN)/kafka-dedup broker start --port $(BROKER_PORT) --data-dir $(BROKER_DIR)

broker-down: ## stop the local Kafka broker
	@if [ -x $(BIN)/kafka-dedup ]; then $(BIN)/kafka-dedup broker stop --data-dir $(BROKER_DIR); fi

cluster-up: setup ## start a local Spark standalone cluster: master + 2 workers of 1 core, 1 GB
	$(BIN)/kafka-dedup cluster start --port $(CLUSTER_PORT) --data-dir $(CLUSTER_DIR)

cluster-down: ## stop the local Spark standalone cluster
	@if [ -x $(BIN)/kafka-dedup ]; then $(BIN)/kafka-dedup cluster stop --data-dir $(CLUSTER_DIR); fi

cluster-test: setup ## the EMR rehearsal and the dev install on a standalone cluster (long; left out of make test)
	$(BIN)/python -m pytest -m cluster -v -s tests/integration/test_cluster_rehearsal.py tests/integration/test_cluster_master.py

clean: broker-down cluster-down ## remove data/, build/ and caches (keeps .venv/)
	rm -rf data build .pytest_cache .mypy_cache .ruff_cache
