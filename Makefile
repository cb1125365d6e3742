# make setup: create .venv from the pinned requirements (once, and again when they change)
# make demo:  Fig. 3a on the embedded local Ray, then its figure
# make test:  the test suite
# make report: the reproduction report of every experiment from the current runs (report/)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test report

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned packages of requirements.txt into $(VENV) (torch, ray, ...; a few minutes the first time):"
	$(PY) -m pip install --progress-bar off -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) main.py -c experiments/interference/fig3a.yaml
	$(PY) analysis_v1.py -c experiments/interference/fig3a.yaml

test: $(STAMP)
	RAY_AUTH_MODE=disabled RAY_DISABLE_USAGE_STATS=1 $(PY) -m pytest -q

report: $(STAMP)
	$(PY) analysis_v1.py --report
