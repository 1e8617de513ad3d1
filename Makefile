# The two commands of the README: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAGE ?= prod
# Test processes: each has its own moto server, app port and browser.
TEST_WORKERS ?= 2

.PHONY: run test bench load capacity package chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

chromium:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium fonts-dejavu-core; }

run: $(VENV)/.installed
	$(BIN)/python -m tools.local.run

# checkov (the packaged template's scanner) pins boto3 1.35: its own virtualenv.
.venv-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --disable-pip-version-check -q -r requirements-checkov.txt
	touch $@

# The architecture contract (.importlinter) first: a broken layer fails in seconds.
test: $(VENV)/.installed .venv-checkov/.installed chromium
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# The CloudFormation package for a stage, built offline (fake credentials): build/package-$(STAGE)/sam.json
# + zips. Bad settings stop it with one line naming the setting. Deploying: README, "Deploying to AWS".
REGION ?= eu-west-1
package: $(VENV)/.installed
	@$(BIN)/python -m deploy.package --stage $(STAGE) --region $(REGION) --out build/package-$(STAGE)

bench: $(VENV)/.installed
	$(BIN)/python -m bench.run

# 20 people browse, filter, search, invite and edit on the local app for 60 s (loopback only, locust),
# then the stat boxes are compared with a recount. Sizes: LOAD_USERS, LOAD_SECONDS, LOAD_CLIENTS.
load: $(VENV)/.installed
	$(BIN)/python -m tools.load.run

# docs/capacity.md from the bench's counted figures (CAPACITY_SIZE accounts, default 300).
capacity: $(VENV)/.installed
	$(BIN)/python -m tools.capacity

clean:
	rm -rf $(VENV) .venv-checkov build screenshots .pytest_cache
