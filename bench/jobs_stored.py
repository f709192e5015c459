#!/usr/bin/env python
"""Many jobs stored: each job's items and microtasks are tables of their own, and nothing may read (or lock) them all.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_jobs python bench/jobs_stored.py --jobs 4000

Stores --jobs small jobs (3 items each, one in three published; those already in the database count), then times
one lease and answer through the scheduler's batch, each periodic pass and the pages that read across jobs
(worker, console, admin), run as the platform runs them. A step that fails says why (before the queries named
their jobs, PostgreSQL's defaults ran out of locks past about 1,500 jobs: "out of shared memory"). Ends with:
    jobs_stored jobs=<n> failed=<n> slowest_s=<s> slowest=<name>
"""

import argparse
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup  # noqa: E402

PASSES = ["expire_leases", "sync_open_jobs", "reconcile_pools", "refresh_pace", "check_gold_answers",
          "repair_gold_checks", "auto_accept_answers", "enforce_budgets", "refresh_pending_results",
          "refresh_job_results", "repair_results", "drop_orphan_partitions"]  # fmt: skip


def store_jobs(total: int) -> int:
    from tasks import services
    from tasks.models import Job
    from tests import factories

    have = Job.objects.count()
    if have >= total:
        return have
    requester = factories.make_requester(username=f"jobs-{secrets.token_hex(4)}")
    started = time.perf_counter()
    for n in range(have, total):
        job = factories.make_job(requester, redundancy=2)
        factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(3)))
        if n % 3 == 0:
            services.job_publish(job)
        if n % 500 == 0:
            print(f"  {n} jobs stored ({time.perf_counter() - started:.0f}s)", flush=True)
    return total


def steps():
    """(name, callable) for each thing timed."""
    from django.conf import settings
    from django.test import Client

    from tasks import background
    from tasks.models import Assignment, Job, Microtask
    from tests import factories
    from workers.models import User

    settings.ALLOWED_HOSTS = ["*"]
    for job in Job.objects.filter(status="open").order_by("-pk"):  # a microtask nobody has leased yet (reruns)
        leased = Assignment.objects.filter(job=job).values("microtask_id")
        mt = Microtask.objects.filter(job=job, is_gold=False, status="open").exclude(pk__in=leased).first()
        if mt is not None:
            break
    worker = factories.make_worker(username=f"jobs-worker-{secrets.token_hex(4)}")
    admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        f"admin-{secrets.token_hex(3)}", "admin@example.com", secrets.token_urlsafe(16)
    )

    def lease_and_answer():
        leased = factories.commit_op({"op": "l", "j": job.pk, "mt": mt.pk, "w": worker.pk, "secs": 60})
        items = [{"item": i["id"], "value": "apple"} for i in leased["items"]]
        answered = factories.commit_op({"op": "s", "j": job.pk, "mt": mt.pk, "w": worker.pk, "key": "k", "secs": 2.0,
                          "answers": items})  # fmt: skip
        assert answered["s"] == "accepted", answered

    yield "lease and answer (commit batch)", lease_and_answer
    for name in PASSES:
        task = getattr(background, name)
        yield f"pass {name}", task.run
    for who, user, url in [
        ("worker", worker, "/work/"),
        ("worker", worker, "/api/me/statement/"),
        ("requester", job.owner, "/jobs/"),
        ("requester", job.owner, f"/jobs/{job.pk}/"),
        ("admin", admin, "/console/operations.json"),
        ("admin", admin, "/admin/tasks/item/"),
        ("admin", admin, "/admin/tasks/microtask/"),
        ("admin", admin, "/admin/tasks/assignment/"),
        ("admin", admin, f"/admin/tasks/microtask/{mt.pk}/change/"),
    ]:

        def get(user=user, url=url):
            client = Client()
            client.force_login(user)
            response = client.get(url)
            assert response.status_code == 200, response.status_code

        yield f"{who} {url}", get


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4000)
    args = parser.parse_args()
    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    jobs = store_jobs(args.jobs)
    print(f"{jobs} jobs stored", flush=True)
    failed, slowest = 0, (0.0, "")
    for name, step in steps():
        started = time.perf_counter()
        try:
            step()
        except Exception as exc:  # a step that fails is reported, and the others still run
            failed += 1
            print(f"  {name}: FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}", flush=True)
            continue
        seconds = time.perf_counter() - started
        slowest = max(slowest, (seconds, name))
        print(f"  {name}: {seconds:.3f}s", flush=True)
    print(f"jobs_stored jobs={jobs} failed={failed} slowest_s={slowest[0]:.2f} slowest={slowest[1].replace(' ', '_')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
