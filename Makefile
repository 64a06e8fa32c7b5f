# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
# PYTHON: the first of these that runs and is Python >= 3.11 (a pyenv shim of a version not
# selected does not run); `make test PYTHON=/path/to/python3.12` chooses another.
PYTHON_CANDIDATES := python3.11 python3.12 python3.13 python3
IS_PYTHON_311_PLUS := -c 'import sys; sys.exit(sys.version_info < (3, 11))'
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do \
  "$$p" $(IS_PYTHON_311_PLUS) >/dev/null 2>&1 && { echo "$$p"; break; }; done)
endif
# Run first in every recipe that needs $(PYTHON): one line saying what to do, then a failure.
CHECK_PYTHON = @if [ -z "$(PYTHON)" ]; then \
  echo "make: no Python >= 3.11 found (tried $(PYTHON_CANDIDATES)): pass PYTHON=/path/to/python3.11+" >&2; \
  exit 1; \
elif ! "$(PYTHON)" $(IS_PYTHON_311_PLUS) >/dev/null 2>&1; then \
  echo "make: PYTHON=$(PYTHON) is not a working Python >= 3.11: pass PYTHON=/path/to/python3.11+" >&2; \
  exit 1; \
fi
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test browser test-pythons interop conformance lint fuzz bench token manifest manifest-check clean

$(STAMP): pyproject.toml
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m schema_example

TEST := -m pytest -m "not interop and not browser"
test: $(STAMP)
	$(BIN)/python $(TEST)

# The same suite under the other supported Pythons, each in a venv of its own (.venv-3.12,
# .venv-3.13): python3.X on PATH, else pyenv's newest 3.X (its shim runs only a selected
# version); `make test-pythons PYTHON_3.12=/path/to/python3.12` chooses one.
TEST_PYTHONS ?= 3.12 3.13
find_python = for c in python$(1) $$(ls -d "$$(pyenv root 2>/dev/null)"/versions/$(1).*/bin/python$(1) 2>/dev/null | sort -rV); do \
  "$$c" -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(1)")' >/dev/null 2>&1 && { echo "$$c"; break; }; done
.PRECIOUS: .venv-%/.installed
.venv-%/.installed: pyproject.toml
	@python="$(or $(PYTHON_$*),$$($(call find_python,$*)))"; \
	if [ -z "$$python" ]; then \
	  echo "make: no Python $* found (python$* on PATH or in pyenv): pass PYTHON_$*=/path/to/python$*" >&2; \
	  exit 1; \
	fi; \
	echo "$$python -m venv .venv-$*"; "$$python" -m venv .venv-$*
	.venv-$*/bin/pip install --quiet --upgrade pip
	.venv-$*/bin/pip install --quiet -e '.[dev]'
	touch $@

test-python-%: .venv-%/.installed
	.venv-$*/bin/python $(TEST)

test-pythons: $(addprefix test-python-,$(TEST_PYTHONS))

# Real clients (Apollo Client 4, Apollo's manifest generator, graphql-http's audit) against
# the demo: node packages from tests/interop/package-lock.json.
interop: $(STAMP)
	cd tests/interop && npm ci --silent
	$(BIN)/python -m pytest -m interop tests/test_interop.py

# The calibration page in a real browser: Debian's Chromium (installed with apt-get when it
# is missing and this is root) driven by Playwright (the `browser` extra; it never downloads
# a browser of its own).
CHROMIUM ?= /usr/bin/chromium
BROWSER_STAMP := $(VENV)/.browser
$(BROWSER_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[browser]'
	touch $(BROWSER_STAMP)

browser: $(BROWSER_STAMP)
	@test -x $(CHROMIUM) || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
	  || { echo "make browser: no Chromium at $(CHROMIUM): install Debian's chromium, or pass CHROMIUM=/path"; exit 1; }
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m browser tests/test_report_browser.py

# The hosts' own suites as acceptance tests: graphql-core's tests (../shared/upstream) run
# as they are and with gqlguard's parse and validation swapped in; no new failure may appear
# beyond conformance/graphql_core_by_design.txt.
# Strawberry's suite runs against Strawberry 0.324.0 (its tests' release) in a venv of its own,
# with every limit off and then with the defaults (conformance/strawberry*_by_design.txt).
STRAWBERRY_VENV := .venv-strawberry
STRAWBERRY_STAMP := $(STRAWBERRY_VENV)/.installed
$(STRAWBERRY_STAMP): conformance/strawberry-requirements.txt pyproject.toml
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(STRAWBERRY_VENV)
	$(STRAWBERRY_VENV)/bin/pip install --quiet --upgrade pip
	$(STRAWBERRY_VENV)/bin/pip install --quiet -r conformance/strawberry-requirements.txt
	$(STRAWBERRY_VENV)/bin/pip install --quiet --no-deps -e .
	touch $(STRAWBERRY_STAMP)

conformance: $(STAMP) $(STRAWBERRY_STAMP)
	$(BIN)/python -m conformance.run graphql-core
	STRAWBERRY_PYTHON=$(CURDIR)/$(STRAWBERRY_VENV)/bin/python $(BIN)/python -m conformance.run strawberry

# A development token for the demo: make token SUB=1 SCOPE="users:email"
SUB ?= 1
SCOPE ?=
token: $(STAMP)
	@GQLGUARD_JWT_SECRET=gqlguard-demo-secret-do-not-use-in-production \
	GQLGUARD_JWT_ISSUER=gqlguard-demo GQLGUARD_JWT_AUDIENCE=gqlguard-demo \
	$(BIN)/gqlguard token --sub "$(SUB)" --scope "$(SCOPE)"

# Persisted queries: rebuild the manifest after editing persisted_queries/*.graphql; CI checks it.
manifest: $(STAMP)
	$(BIN)/gqlguard manifest build persisted_queries/

manifest-check: $(STAMP)
	$(BIN)/gqlguard manifest check persisted_queries/

lint: $(STAMP)
	$(BIN)/ruff check gqlguard schema_example examples tests bench conformance
	$(BIN)/mypy --strict gqlguard

# A long randomized Hypothesis session: the fuzz and property suites over and over, random
# seeds, until FUZZ_MINUTES have passed; stops at the first failure (kept in .hypothesis/).
# The deadline binds inside a run too (FUZZ_DEADLINE: tests/conftest.py skips the tests that
# would start after it), so the session overshoots by the test running at the deadline only.
# The last line says how long it really ran, in how many runs.
FUZZ_MINUTES ?= 20
fuzz: $(STAMP)
	@case "$(FUZZ_MINUTES)" in ''|*[!0-9]*) \
	  echo "make: FUZZ_MINUTES=$(FUZZ_MINUTES) is not a whole number of minutes" >&2; exit 2;; esac; \
	start=$$(date +%s); end=$$(( start + 60 * $(FUZZ_MINUTES) )); run=0; \
	took() { tenths=$$(( ($$(date +%s) - start) * 10 / 60 )); echo "$$(( tenths / 10 )).$$(( tenths % 10 ))"; }; \
	while [ $$(date +%s) -lt $$end ]; do \
	  run=$$((run + 1)); echo "fuzz run $$run, $$(took) of $(FUZZ_MINUTES) minutes gone"; \
	  FUZZ_PROFILE=long FUZZ_DEADLINE=$$end $(BIN)/python -m pytest tests/test_fuzz.py tests/test_properties.py tests/test_slow_documents.py \
	    tests/test_field_merge_floor.py tests/test_validation_driver.py \
	    -x -p no:randomly --hypothesis-seed=random --hypothesis-show-statistics \
	    || { echo "fuzz: run $$run failed after $$(took) minutes (its example is kept in .hypothesis/)"; exit 1; }; \
	done; [ $$run = 1 ] && runs="1 run" || runs="$$run runs"; \
	echo "fuzz: $$runs in $$(took) minutes (FUZZ_MINUTES=$(FUZZ_MINUTES)), no failure"

bench: $(STAMP)
	$(BIN)/python bench/analysis.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/instructions.py
	$(BIN)/python bench/persisted.py
	$(BIN)/python bench/amplification.py
	$(BIN)/python bench/authorization.py
	$(BIN)/python bench/cache_bytes.py
	$(BIN)/python bench/subscriptions.py
	$(BIN)/python bench/views.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .venv-tools tests/interop/node_modules $(STRAWBERRY_VENV) .venv-3.*
