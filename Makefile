# Two commands on a fresh machine: `make lab` (open the course) and `make test` (run every test).
# Each target bootstraps .venv when it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8888
# torch first, pinned: a local CPU build here; an unpinned torch pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: lab lab-instructor test check bench bench-readme bench-grading nbtest grade-solutions student venv debs clean site site-solutions site-test

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[lab,grade,test,nbgrader,dask]'  # the runtime set plus every extra
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cmlesson)" >/dev/null
	touch $(STAMP)

## make lab: set up, then open the course in JupyterLab (it prints the URL with its token; LAB_ARGS=--no-browser to open none)
# As root (a container, a cloud VM) JupyterLab refuses to start without --allow-root: passed then, and said so.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=
# The students' Lab shows nothing of nbgrader (installed for instructors and tests): jupyter/students/ turns it off.
STUDENT_JUPYTER := $(CURDIR)/jupyter/students
lab: venv
	@$(if $(ALLOW_ROOT),echo "make lab: running as root: JupyterLab needs --allow-root there; passing it")
	cd notebooks && JUPYTER_CONFIG_PATH="$(STUDENT_JUPYTER)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  ../$(VENV)/bin/jupyter lab --port $(PORT) $(ALLOW_ROOT) $(LAB_ARGS)

## make lab-instructor: the instructors' Lab: the repository root (solutions/ included) with nbgrader's menu and formgrader
lab-instructor: venv
	@$(if $(ALLOW_ROOT),echo "make lab: running as root: JupyterLab needs --allow-root there; passing it")
	$(VENV)/bin/jupyter lab --port $(PORT) $(ALLOW_ROOT) $(LAB_ARGS)

## make test: set up, then run every test (unit, notebooks with nbval, browser, grading)
# One pytest run: unit tests, the slow ones (training, browser, grading) and every notebook under nbval.
# Two workers, one file at a time each (a notebook's cells share one kernel, so a file never splits):
# the training loops are small and mostly single-threaded, so two run side by side nearly as fast as one.
# The longest files go first (solutions/, then the student notebooks nbval still runs, then tests/) so that no worker
# is left with a long one at the end.
# The course website is built first (site: its own .venv-site, about a minute from nothing); tests/test_site.py then
# opens it in headless Chromium.
test: venv debs site
	$(PY) -m cmlesson student --check
	$(PY) -m pytest -p no:cacheprovider --durations=15 $(PARALLEL) $(NBVAL) solutions notebooks tests

PARALLEL := -n 2 --dist loadfile

NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=600

## make nbtest: only the notebooks
nbtest: venv
	$(PY) -m pytest -q -p no:cacheprovider $(NBVAL) notebooks solutions

## make check: lint + fast unit tests, under a minute (two workers: the fast tests are independent of each other).
## Bytecode caching is switched back on where the environment turns it off (pytest then rewrites ~170 modules on
## every run), and nbval, which only the notebooks need, is not loaded.
check: venv debs
	$(VENV)/bin/ruff check cmlesson tests
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -p no:cacheprovider -p no:nbval -n 2 -m "not slow" tests

## make bench: train the pipeline with the course defaults and print the quality/speed table
bench: venv
	$(PY) -m cmlesson bench

## make bench-readme: the benchmark plus every notebook's running time and peak memory, written into README.md
bench-readme: venv
	$(PY) -m cmlesson bench --notebooks --readme README.md
	$(PY) -m cmlesson student --sync-setup

## make bench-grading: what the grader's sandbox and a two-worker Dask cluster cost, on a class of 30 submissions
bench-grading: venv debs
	$(PY) tests/bench_grading.py --readme README.md

## make grade-solutions: grade the solution notebooks (they must score full marks)
grade-solutions: venv
	$(PY) -m cmlesson grade --solutions --out build/grades-solutions.csv

## make student: regenerate notebooks/ from solutions/
student: venv
	$(PY) -m cmlesson student

## make site: the course as a static website in build/site (the student's view: no exercise answer), built offline
# Its tools (Sphinx, myst-nb, sphinx-book-theme, a packaged MathJax) live in .venv-site, pinned in website/requirements.txt;
# nothing is executed (the pages show the outputs stored in solutions/). Always rebuilt (seconds): the footer names the commit.
SITE_VENV  := .venv-site
SITE_PY    := $(SITE_VENV)/bin/python
SITE_STAMP := $(SITE_VENV)/.installed

$(SITE_STAMP): website/requirements.txt
	$(PYTHON) -m venv $(SITE_VENV)
	$(SITE_PY) -m pip install --quiet -r website/requirements.txt
	touch $(SITE_STAMP)

site: $(SITE_STAMP)
	$(SITE_PY) -m cmlesson site --out build/site

## make site-solutions: the instructor's site in build/site-solutions, exercise answers folded in (not for students)
site-solutions: $(SITE_STAMP)
	$(SITE_PY) -m cmlesson site --solutions --out build/site-solutions

## make site-test: build the site and test it in headless Chromium (make test runs the same test)
site-test: venv debs site
	$(PY) -m pytest -q -p no:cacheprovider -p no:nbval tests/test_site.py

# Debian packages the tests need, as command:package. The browser test drives Debian's Chromium (Playwright's own
# browser download is not possible here); the grader's sandbox tests run bubblewrap (bwrap). Installs only what is missing.
DEBS := chromium:chromium bwrap:bubblewrap
debs:
	@missing=$$(for d in $(DEBS); do command -v $${d%%:*} >/dev/null 2>&1 || echo $${d#*:}; done); \
	if [ -n "$$missing" ]; then echo "apt-get install" $$missing; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

clean:
	rm -rf $(VENV) $(SITE_VENV) build .pytest_cache
