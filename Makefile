# perception_kd: `make demo` and `make test` set everything up from nothing
# (system packages, a virtual environment, the demo dataset) and are safe to re-run.
#
# The virtual environment lives outside the clone, in
#   $(VENV_ROOT)/venv-<hash>
# where <hash> covers everything that defines the install: requirements/*.txt, setup.py,
# the install recipe below (between the ">>> install" markers), the Python interpreter
# and TORCH_INDEX_URL. Clones with the same install share it; changing any of these builds
# a new one. A stamp file written last marks it complete, so an interrupted install is
# redone from scratch; a lock keeps two concurrent makes from building the same one.
# The clone running make is what gets imported (PYTHONPATH and a .pth file point at it).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
CACHE_HOME := $(or $(XDG_CACHE_HOME),$(if $(HOME),$(HOME)/.cache,/tmp/$(shell id -u)-cache))
VENV_ROOT ?= $(CACHE_HOME)/perception_kd
# Optional pip index for torch only (e.g. a CPU wheel index); empty = pip's configuration.
TORCH_INDEX_URL ?=
PYTEST_ARGS ?= -n 2
# Demo dataset: the synthetic nuScenes-format world (tools/make_synthetic.py).
DEMO_ROOT ?= data/nuscenes
DEMO_VERSION ?= v1.0-mini
DEMO_ARGS ?= --seed 0 --workers 2
DEMO_CONFIG ?= configs/_base_/datasets/nuscenes_multimodal.py
# The synthetic val split has every class: its ground truth must score mAP ~1.
DEMO_CHECK_ARGS ?= --min-map 0.95
GENERATED_MARK := .generated-by-make-data
# The distillation stories (tools/demo_unidistill.py --story): teacher, student alone and
# distilled, official metric, gain; schedules sized so they fit a laptop CPU (each story's
# defaults; unidistill: the stored LiDAR teacher in demo/, two 10-epoch camera students side
# by side). DEMO=unidistill (LiDAR -> camera, the headline), fusion2lidar or xray.
DEMO ?= unidistill
DEMO_WORK_DIR ?= work_dirs/demo
DEMO_TRAIN_ARGS ?=

INSTALL_INPUTS := $(sort $(wildcard requirements/*.txt)) setup.py
PYTHON_ID := $(shell command -v $(PYTHON) >/dev/null 2>&1 && $(PYTHON) -c 'import sys, platform; print(sys.executable, platform.python_version(), platform.machine())')
VENV_HASH := $(shell { cat $(INSTALL_INPUTS); sed -n '/^\# >>> install/,/^\# <<< install/p' $(firstword $(MAKEFILE_LIST)); echo '$(PYTHON_ID)' '$(TORCH_INDEX_URL)'; } | sha256sum | cut -c1-16)
VENV := $(VENV_ROOT)/venv-$(VENV_HASH)
STAMP := $(VENV)/.perception_kd-installed
VPY := $(VENV)/bin/python
# Every command runs the current clone's code, whichever clone last touched the venv.
RUN := cd $(CURDIR) && PYTHONPATH=$(CURDIR) PYTHONNOUSERSITE=1 MPLBACKEND=Agg $(VPY)

# System libraries open3d needs (headless rendering).
APT_PACKAGES := libusb-1.0-0 libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libvulkan1 mesa-vulkan-drivers

.PHONY: help demo test lint venv venv-path apt-deps data clean clean-venvs check-python mmdet3d

help:
	@echo 'make demo         set up, generate the demo dataset, train a LiDAR teacher and a camera student alone and distilled, compare them'
	@echo '                  (DEMO=fusion2lidar or DEMO=xray: the other stories on the same world)'
	@echo 'make test         set up, lint and run the test suite (pytest $(PYTEST_ARGS))'
	@echo 'make lint         only run the linter (ruff check, rules in ruff.toml)'
	@echo 'make venv         only set up the virtual environment ($(VENV))'
	@echo 'make venv-path    print the virtual environment folder'
	@echo 'make mmdet3d      add the optional mmdet3d stack (mmcv built once, cached) to the venv'
	@echo 'make data         only generate the demo dataset and its info files ($(DEMO_ROOT))'
	@echo 'make clean        remove generated data and caches in this clone'
	@echo 'make clean-venvs  remove every perception_kd venv under $(VENV_ROOT)'

demo: data
	$(RUN) tools/check_dataset.py $(DEMO_CONFIG) --data-root $(DEMO_ROOT)/ $(DEMO_CHECK_ARGS)
	$(RUN) tools/demo_unidistill.py --story $(DEMO) --data-root $(DEMO_ROOT)/ --version $(DEMO_VERSION) \
	  --work-dir $(DEMO_WORK_DIR) $(DEMO_TRAIN_ARGS)

test: venv lint
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(RUN) -m pytest $(PYTEST_ARGS) tests

# Lint and import order (ruff.toml); `ruff check --fix .` repairs most findings.
lint: venv
	$(RUN) -m ruff check .

check-python:
	@if [ -z "$(PYTHON_ID)" ]; then \
	  echo "error: '$(PYTHON)' not found; install Python >= 3.10 or run make PYTHON=/path/to/python3" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "error: perception_kd needs Python >= 3.10, $(PYTHON) is %s" % sys.version.split()[0])'

apt-deps:
	@missing=""; \
	if ! command -v dpkg >/dev/null 2>&1; then \
	  echo "note: no dpkg here; make sure these libraries (or your system's equivalents) are installed: $(APT_PACKAGES)"; exit 0; fi; \
	for pkg in $(APT_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing system packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	else \
	  echo "error: missing system packages:$$missing" >&2; \
	  echo "install them with:  sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
	  exit 1; fi

venv-path:
	@echo $(VENV)

# Point the venv at this clone (for running $(VPY) by hand); rewritten on every run.
venv: $(STAMP)
	@site=$$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  echo '$(CURDIR)' > "$$site/perception_kd_clone.pth"
	@# The project's C++ kernels (perception_kd/ops/csrc), built once into torch's extension
	@# cache; without a compiler everything still runs on the spconv/torch backends.
	@$(RUN) -m perception_kd.ops.native --quiet || true

# >>> install (everything between these markers is part of the venv hash)
$(STAMP): | check-python apt-deps
	@mkdir -p "$(VENV_ROOT)"
	@exec 9>"$(VENV).lock"; \
	if command -v flock >/dev/null 2>&1; then flock 9; fi; \
	if [ -f "$(STAMP)" ]; then exit 0; fi; \
	echo "building $(VENV) (first run or changed requirements; a few minutes)"; \
	start=$$(date +%s); \
	rm -rf "$(VENV)"; \
	$(PYTHON) -m venv "$(VENV)" || { echo "error: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }; \
	export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1; \
	"$(VPY)" -m pip install -q --upgrade pip 'setuptools<70' wheel; \
	"$(VPY)" -m pip install -q $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) -r requirements/torch.txt; \
	"$(VPY)" -m pip install -q -c requirements/torch.txt -r requirements/runtime.txt -r requirements/tests.txt; \
	"$(VPY)" -c 'import torch, mmengine, spconv, nuscenes, open3d; print("torch", torch.__version__, "mmengine", mmengine.__version__, "open3d", open3d.__version__)'; \
	touch "$(STAMP)"; \
	echo "venv ready in $$(( $$(date +%s) - start )) s: $(VENV)"
# <<< install

# Optional: mmcv 2.1.0 (CPU ops, wheel built once into $(CACHE_HOME)/perception_kd/wheels/),
# mmdet 3.3.0 and mmdet3d 1.4.0 in the venv; enables tests/interop (skipped without it).
# Outside the install markers and requirements/*.txt: it does not change the venv hash.
mmdet3d: venv
	tools/install_mmdet3d.sh $(VPY)

# The demo dataset, generated into a temporary folder and moved into place when complete.
$(DEMO_ROOT)/$(DEMO_VERSION)/sample.json: | venv
	@if [ -e "$(DEMO_ROOT)" ]; then \
	  echo "error: $(DEMO_ROOT) exists but has no $(DEMO_VERSION)/sample.json; move it away or run make DEMO_ROOT=<other folder>" >&2; exit 1; fi
	rm -rf "$(DEMO_ROOT).partial"
	$(RUN) tools/make_synthetic.py --out $(DEMO_ROOT).partial --version $(DEMO_VERSION) $(DEMO_ARGS)
	touch "$(DEMO_ROOT).partial/$(GENERATED_MARK)"
	mv "$(DEMO_ROOT).partial" "$(DEMO_ROOT)"

$(DEMO_ROOT)/nuscenes_infos_val.pkl: $(DEMO_ROOT)/$(DEMO_VERSION)/sample.json | venv
	$(RUN) tools/create_data.py $(DEMO_ROOT) --version $(DEMO_VERSION)

data: venv $(DEMO_ROOT)/nuscenes_infos_val.pkl

# Removes the demo dataset only if `make data` generated it (a real nuScenes root stays).
clean:
	rm -rf "$(DEMO_ROOT).partial" .pytest_cache .hypothesis work_dirs
	@if [ -f "$(DEMO_ROOT)/$(GENERATED_MARK)" ]; then echo "rm -rf $(DEMO_ROOT)"; rm -rf "$(DEMO_ROOT)"; \
	elif [ -e "$(DEMO_ROOT)" ]; then echo "keeping $(DEMO_ROOT) (not generated by make data)"; fi
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-venvs:
	rm -rf "$(VENV_ROOT)"/venv-*
