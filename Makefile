# FashionLeNet int8 accelerator: simulation, tests and model flow. `make help` lists targets.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
IMAGES ?= 100
OFFSET ?= 0
PARAMS ?= model/artifacts/export
WAVES  ?= 0
JOBS  ?= $(shell nproc 2>/dev/null || echo 1)
PYTEST_ARGS ?=
export PYTHONPATH := $(CURDIR)

HDL_FILES := $(shell find hdl -name '*.sv' 2>/dev/null | sort)

.PHONY: help sim test test-all imports regress coverage mutate synth bench model pkg lint waves venv bootstrap clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: IMAGES=$(IMAGES) OFFSET=$(OFFSET) PARAMS=$(PARAMS) WAVES=$(WAVES)"

$(VENV)/.installed: requirements.txt scripts/bootstrap.sh
	@scripts/bootstrap.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv with the pinned Python packages (run by sim/test)

sim: venv ## run IMAGES real test images (from OFFSET) through the RTL, bit-exact vs the reference
	$(PY) scripts/sim.py --images $(IMAGES) --offset $(OFFSET) --params $(PARAMS) $(if $(filter 1,$(WAVES)),--waves,)

test: venv imports ## the import contracts, then the pytest regression (CI subset: everything but tests marked slow)
	$(PY) -m pytest -m "not slow" -n $(JOBS) --dist loadfile $(PYTEST_ARGS)

test-all: venv imports ## the import contracts, then every test, including the slow full-test-set runs
	$(PY) -m pytest -n $(JOBS) --dist loadfile $(PYTEST_ARGS)

imports: venv ## import-linter: the layers model <- tb <- scripts, no cycles, nothing imports a test module (.importlinter)
	$(VENV)/bin/lint-imports

REPORTS ?= reports

regress: venv ## all 10,000 test images + stress set through the RTL, reports in reports/ (SEEDS=N: the seeded unit benches over N seeds)
	rm -rf sim_build/regress_runs && mkdir -p $(REPORTS)
	@status=0; \
	if [ -n "$(SEEDS)" ]; then \
	  SEEDS=$(SEEDS) $(PY) -m pytest tb -m "seeded and not slow" -n $(JOBS) --dist loadfile \
	    --junitxml=$(REPORTS)/junit_seeds.xml $(PYTEST_ARGS) || status=1; \
	fi; \
	SEEDS= $(PY) -m pytest tb/test_regress.py -k "test_regress_full or (test_regress_stress and not before_build)" -n $(JOBS) \
	  --dist load --maxschedchunk 1 --junitxml=$(REPORTS)/junit.xml $(PYTEST_ARGS) || status=1; \
	$(PY) scripts/regress_report.py --out $(REPORTS) --require-coverage || status=1; \
	exit $$status

coverage: venv ## Verilator line/branch/toggle coverage of hdl/ from the CI tests (reports/coverage)
	rm -rf "$${SIM_BUILD:-sim_build}/coverage"
	COVERAGE=1 $(PY) -m pytest -m "not slow" -n $(JOBS) --dist loadfile $(PYTEST_ARGS) tb; \
	  status=$$?; $(PY) scripts/coverage.py || status=1; exit $$status

MUTANTS ?= 300
mutate: venv ## mutation testing: MUTANTS Yosys mutants of the top vs a fast subset of the suite (reports/mutation)
	$(PY) scripts/mutate.py --mutants $(MUTANTS) --jobs $(JOBS) --out $(REPORTS)/mutation

PNR   ?= 0
bench: venv ## speed and cost side by side: cycles, MAC utilization, synthesis, CPU baselines, simulator throughput (reports/bench)
	$(PY) scripts/bench.py --out $(REPORTS)/bench

synth: venv ## Yosys area estimates per block and of the top (generic, ECP5, 7 series; PNR=1: nextpnr Fmax, FREQ= its constraint in MHz, SEED= its seed; FOLDING=small: the small folding; LANES=, CONV2_PAR=: override its lanes, conv2 input channels), reports/synth
	$(PY) scripts/synth.py $(if $(FOLDING),--folding $(FOLDING),) $(if $(LANES),--lanes $(LANES),) $(if $(CONV2_PAR),--conv2-par $(CONV2_PAR),) --jobs $(JOBS) --out $(REPORTS)/synth $(if $(filter 1,$(PNR)),--pnr $(if $(FREQ),--freq $(FREQ),) $(if $(SEED),--seed $(SEED),),)

model: venv ## retrain the float model, quantize it and re-export the RTL parameters
	$(PY) -m model.train --out model/artifacts/fashion_lenet.pt
	$(PY) -m model.quantize --checkpoint model/artifacts/fashion_lenet.pt --out model/artifacts/export

pkg: venv ## generate hdl/fashion_lenet_pkg.sv and docs/register-map.md from model/network.py
	$(PY) -m model.svpkg

lint: venv ## verilator --lint-only -Wall on every module
	$(PY) scripts/lint.py

waves: ## open the last `make sim WAVES=1` trace in GTKWave with the committed view
	@test -f sim_build/sim_waves/dump.fst || { echo "no trace: run 'make sim WAVES=1 IMAGES=1' first"; exit 1; }
	gtkwave sim_build/sim_waves/dump.fst tb/waves.gtkw

clean: ## remove simulation builds
	rm -rf sim_build results.xml
