# The two commands (README.md): `make lab` opens the lab, `make test` runs every test.
# Both create the virtual environment .venv/ when it is missing and install xdplab into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.xdplab-installed

.PHONY: lab test test-unit test-notebooks test-boundscheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

lab: $(STAMP)
	cd course && ../$(VENV)/bin/jupyter-lab $(LAB_ARGS) index.ipynb

test: $(STAMP)
	@# compile the jitted simulator once up front (numba caches it): the notebook and browser tests
	@# then start warm instead of each paying the cold compile inside their time limits
	$(PY) -m xdplab bench drop --packets 2000 > /dev/null
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
