# The two commands (README.md): `make lab` opens the lab, `make test` runs every test.
# Both create the virtual environment .venv/ when it is missing and install xdplab into it: `make lab`
# what the lab needs (.[lab]), `make test` that plus the test tools (.[test]). pip's output goes to
# .venv/install.log (shown only when an install fails).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAB_STAMP := $(VENV)/.xdplab-lab
STAMP := $(VENV)/.xdplab-installed
INSTALL_LOG := $(VENV)/install.log

.PHONY: lab test test-unit test-notebooks test-boundscheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# pip install -e '.[EXTRAS]' quietly, its log kept; on failure the log's end is printed
define pip_install
	@echo "installing xdplab[$(1)] into $(VENV)/ (log: $(INSTALL_LOG))"
	@{ $(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[$(1)]'; } > $(INSTALL_LOG) 2>&1 \
	  || { tail -n 40 $(INSTALL_LOG); echo "pip install failed: full log in $(INSTALL_LOG)"; exit 1; }
endef

$(LAB_STAMP): $(PY) pyproject.toml
	$(call pip_install,lab)
	@touch $@

$(STAMP): $(PY) pyproject.toml
	$(call pip_install,test)
	@touch $@ $(LAB_STAMP)

# xdplab lab: compile the simulator first (a progress bar; seconds when cached), then JupyterLab on
# course/index.ipynb; as root it adds --allow-root, without a display --no-browser, and it prints the
# URL of the course index. LAB_ARGS go to xdplab lab (e.g. LAB_ARGS="--port 8890 -- --ip=0.0.0.0").
lab: $(LAB_STAMP)
	@$(VENV)/bin/xdplab lab $(LAB_ARGS)

test: $(STAMP)
	@# compile the jitted simulator once up front (numba caches it): the notebook and browser tests
	@# then start warm instead of each paying the cold compile inside their time limits
	$(PY) -m xdplab warmup --all --quiet
	$(PY) -m pytest -q tests
	@if ls course/*.ipynb >/dev/null 2>&1; then \
	  $(PY) -m pytest -q --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg course; \
	fi

# The unit tests once more with numba's bounds checking on (a separate cache: other machine code;
# kept with the user's caches, keyed like the other by a digest of xdplab's sources, so that a
# second run of unchanged code does not compile it again).
BOUNDSCHECK_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/xdplab-numba-boundscheck
test-boundscheck: $(STAMP)
	NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(BOUNDSCHECK_CACHE) $(PY) -m pytest -q -m "not browser" tests

bench: $(STAMP)
	$(VENV)/bin/xdplab bench drop --packets 5000000

clean:
	rm -rf $(VENV) .numba-boundscheck $(BOUNDSCHECK_CACHE)
