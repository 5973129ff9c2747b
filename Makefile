# The README's two commands:
#   make demo   set up .venv (once per set of pins) and run the main job on the embedded default
#   make test   set up .venv (once per set of pins) and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
INSTALL := $(PIP) install -q --no-compile
PINS := $(shell cat requirements.txt constraints.txt pyproject.toml Makefile | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(PINS)
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test venv clean-venv

venv: $(STAMP)

# INSTALL skips byte-compiling, then compileall on every core: pip compiles the 21857 installed .py
# files one at a time (75 of the set-up's 140 s on 2 cores; compileall -j0 32 s). The .pyc files must be written here:
# with PYTHONDONTWRITEBYTECODE set (as on this project's machines) Python never writes them later, and
# every test process then compiled torch again (make test 491 -> 793 s). compileall's exit status is
# ignored: some packages ship files that do not compile (pip skips them too).
$(STAMP):
	@echo "== setting up $(VENV) (pins $(PINS))"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(INSTALL) pip==26.3 'setuptools==80.10.2' wheel==0.48.0
	$(INSTALL) torch==2.14.1 torchvision==0.29.1
	$(INSTALL) --no-build-isolation -c constraints.txt basicsr==1.4.2
	$(INSTALL) -c constraints.txt -r requirements.txt
	@# basicsr pulls opencv-python, pyiqa opencv-python-headless: both unpack into one cv2/.
	$(PIP) uninstall -q -y opencv-python opencv-python-headless
	$(INSTALL) --no-deps -c constraints.txt opencv-python-headless==5.0.0.93
	$(INSTALL) --no-deps --no-build-isolation -e .
	$(PY) -m compileall -q -j0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null 2>&1 || true
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --cores 2
	@cat results/table2.md

# pytest-xdist workers: one per core plus one (the SLURM test's worker mostly waits on its jobs), at
# most 5, one torch thread each (tests/conftest.py). worksteal: each worker starts on its share of the
# slowest tests (tests/conftest.py orders them) and an idle one takes the tail of another's queue.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(5, (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()) + 1))")
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal tests

clean-venv:
	rm -rf $(VENV)
