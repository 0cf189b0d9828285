# Two commands set up a fresh Debian machine with Python 3.11: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo cluster test test-fast lint format bench browser-deps cluster-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

# Embedded Redis (unless ONEMAP_REDIS_URL is set) + simulator with today's backfill + dashboard.
demo: install
	$(VENV)/bin/onemap demo

# Debian's Chromium, its driver and CJK fonts, installed only when missing.
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
	    || ! command -v pdftotext >/dev/null || ! command -v pdftoppm >/dev/null \
	    || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  echo "installing chromium, chromium-driver, fonts-noto-cjk, poppler-utils"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    chromium chromium-driver fonts-noto-cjk poppler-utils >/dev/null; \
	fi

# Debian's HAProxy and Sentinel, for `onemap cluster` and its tests, installed only when missing.
cluster-deps:
	@if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ] \
	    || ! command -v redis-sentinel >/dev/null; then \
	  echo "installing haproxy, redis-sentinel"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    haproxy redis-sentinel >/dev/null; \
	fi

# Three replicas behind HAProxy on Redis with Sentinel, on loopback, fed by the simulator.
cluster: install cluster-deps
	$(VENV)/bin/onemap cluster

# Two runs. First, in series and alone on the machine, every test not marked fault or parallel:
# those that measure what happens in time (latencies and p99s, "within 5 s", a wall stale after
# 3 s, a warning pinned for 1.5 s, a new marker drawn as such for 1 s, steps counted in half a
# second, elapsed bounds) and whatever is not marked yet. Then side by side, FAULT_WORKERS at a
# time, the fault tests (stalls, outages, two-minute holds: they mostly wait) and the tests
# marked parallel (their own servers and Redis, or none; no promise about time). worksteal
# gives each worker a run of whole modules (a module-scoped server starts once, not on every
# worker) and moves the tail of a busy worker to an idle one. On 2 cores, 6 workers were no
# faster than 4 and made the history job's 30 s deadline miss.
FAULT_WORKERS ?= 4

test: install browser-deps cluster-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -m "not fault and not parallel" --durations=15
	$(PY) -m pytest -q -m "fault or parallel" -n $(FAULT_WORKERS) --dist worksteal \
	    --durations=10

test-fast: install
	$(PY) -m pytest -q -m "not browser and not fault"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The benchmarks, each starting and stopping its own processes; the live pipeline's (latency,
# fanout) are described, with figures, in docs/benchmarks.md.
# The wall soak is long; `make bench WALL_SOAK_MINUTES=5` for a quick look.
WALL_SOAK_MINUTES ?= 30

bench: install browser-deps
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) -m bench.latency
	$(PY) -m bench.fanout
	$(PY) -m bench.wall_load
	$(PY) -m bench.wall_frames
	$(PY) -m bench.wall_soak --minutes $(WALL_SOAK_MINUTES)
	$(PY) -m bench.duty_query
	$(PY) -m bench.duty_live
	$(PY) -m bench.connect
	$(PY) -m bench.restart

clean:
	rm -rf $(VENV) .onemap .pytest_cache
