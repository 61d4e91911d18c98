# umltui: `make demo` runs the demo, `make test` runs the tests, on a fresh Debian machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DEBS := user-mode-linux uml-utilities bubblewrap patchelf vdeplug busybox-static e2fsprogs iproute2 tmux mmdebstrap tcpdump chromium-headless-shell shellcheck systemd
# Which file each package leaves behind, so a second `make setup` finds nothing to do.
DEB_FILES := /usr/bin/linux.uml /usr/bin/uml_moo /usr/bin/bwrap /usr/bin/patchelf /usr/bin/vde_plug /bin/busybox /sbin/mke2fs /sbin/ip /usr/bin/tmux /usr/bin/mmdebstrap /usr/bin/tcpdump /usr/bin/chromium-headless-shell /usr/bin/shellcheck /usr/bin/systemd-analyze

# What the benchmarks use beyond that (console_cost.py compares with screen -L), the same way.
BENCH_DEBS := screen
BENCH_FILES := /usr/bin/screen

.PHONY: setup demo test unit lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	@missing=""; i=0; files=($(DEB_FILES)); for deb in $(DEBS); do \
	  [ -e "$${files[$$i]}" ] || missing="$$missing $$deb"; i=$$((i+1)); done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "umltui needs these Debian packages. Run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

demo: setup
	$(VENV)/bin/umltui demo

# ruff (lint and format), mypy (strict, over umltui/ tests/ tools/ benchmarks/), the import contracts, and the
# files put into guests: shellcheck over their scripts, systemd-analyze verify over their units.
# .pre-commit-config.yaml runs the same.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m tools.lint_guest_files

# Installs what the benchmarks need, then says how to run each (figures: docs/performance.md).
bench: setup
	@missing=""; i=0; files=($(BENCH_FILES)); for deb in $(BENCH_DEBS); do \
	  [ -e "$${files[$$i]}" ] || missing="$$missing $$deb"; i=$$((i+1)); done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages for the benchmarks:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "the benchmarks need these Debian packages. Run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
	@echo "Ready. Each benchmark runs in a private world of its own and prints its figures (--json too);"
	@echo "run one at a time (they measure a shared machine). What each measures: docs/performance.md"
	@for f in benchmarks/*.py; do sed -n "s|^    python \($$f\)|  $(PY) \1|p" $$f | head -1; done

# The tests that boot no guest (about a minute on 2 cores; the hypothesis run against tmux is a third of it).
unit: setup
	$(VENV)/bin/pytest -m "not uml"

# Everything: the linters first, then every test, the ones that boot real guests included.
test: lint
	$(VENV)/bin/pytest -v

clean:
	rm -rf $(VENV) .pytest_cache
