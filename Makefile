# The two commands of the README: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SEED   ?= 42
PRESET ?= default
DATA   := data/$(PRESET)
DBT    := $(BIN)/dbt --no-use-colors
DBT_ARGS := --profiles-dir . --vars '{raw_path: $(DATA)/raw}'
SIMULATE := $(BIN)/receval simulate --preset $(PRESET) --seed $(SEED) --out $(DATA)

.PHONY: install demo simulate build test test-slow test-spark bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Simulate the default world (once: a world on disk is reused; `make simulate` redraws it),
# build every model and test on DuckDB, publish the marts. A second run retrains nothing:
# the candidate versions of the same rows and code are in the model store.
demo: install $(DATA)/truth/world.json build
	@echo
	@echo "Marts (Parquet, for BI tools): warehouse/marts/"
	@ls warehouse/marts
	@echo "DuckDB database: warehouse/receval.duckdb   ground truth: $(DATA)/truth/"

simulate: install
	$(SIMULATE)

$(DATA)/truth/world.json: | install
	$(SIMULATE)

build: install
	mkdir -p warehouse/marts warehouse/tmp
	$(DBT) build $(DBT_ARGS)

# Every test: the package's pytest suite plus `dbt build` on a tiny simulated world.
test: install
	$(BIN)/pytest -q

test-slow: install
	$(BIN)/pytest -q -m 'slow and not spark'

# The tests that build on Spark: the `spark` extra (dbt-spark, pyspark; Java 17) on top. The
# slow Spark cases (a reduced landing zone, the unit tests on Spark): pytest -m 'spark and slow'.
test-spark: $(VENV)/.installed-spark
	$(BIN)/pytest -q -m 'spark and not slow'

$(VENV)/.installed-spark: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

bench: install
	$(BIN)/python benchmarks/dbt_build.py

clean:
	rm -rf warehouse target logs
