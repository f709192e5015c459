"""The `quorum` command: the library's calls from a shell, with progress bars on stderr.

Exit status: 0 done; 1 the server or a file refused (one line on stderr says what and where); 2 a wrong
command line or no server/token; 3 a wait ran past --timeout."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from . import __version__
from .client import Client
from .config import load_config, save_config
from .errors import QuorumError, WaitTimeout
from .progressbar import ProgressBar
from .types import Progress, Upload

EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 1, 2, 3


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args) or 0
    except UsageError as exc:
        _fail(str(exc))
        return EXIT_USAGE
    except WaitTimeout as exc:
        _fail(str(exc))
        return EXIT_TIMEOUT
    except QuorumError as exc:
        _fail(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


def _fail(message: str) -> None:
    sys.stderr.write(f"quorum: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quorum", description="Quorum's REST API from the command line.")
    parser.add_argument("--version", action="version", version=f"quorum-client {__version__}")
    parser.add_argument("--url", help="the server (default: QUORUM_URL, or the URL `quorum login` stored)")
    parser.add_argument("--token", help="an API token (default: QUORUM_TOKEN, or the token `quorum login` stored)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    login = commands.add_parser("login", help="get an API token for a username and password and store it")
    login.add_argument("--username", "-u")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    login.set_defaults(handler=cmd_login)

    jobs = commands.add_parser("jobs", help="create, list and show jobs").add_subparsers(metavar="ACTION")
    create = jobs.add_parser("create", help="create a draft job from a YAML or JSON file; prints its id")
    create.add_argument("definition")
    create.add_argument("--json", action="store_true", help="print the whole job as JSON")
    create.set_defaults(handler=cmd_jobs_create)
    listing = jobs.add_parser("list", help="your jobs")
    listing.add_argument("--status", choices=["draft", "open", "paused", "cancelled", "done"])
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_jobs_list)
    show = jobs.add_parser("show", help="one job as JSON")
    show.add_argument("job", type=int)
    show.set_defaults(handler=cmd_jobs_show)

    upload = commands.add_parser("upload", help="send data files for a job and wait for their ingest")
    upload.add_argument("job", type=int)
    upload.add_argument("files", nargs="+", metavar="FILE")
    upload.add_argument("--no-wait", action="store_true", help="return once the files are sent")
    upload.set_defaults(handler=cmd_upload)

    for name, text in [
        ("publish", "open the job to workers"),
        ("pause", "stop handing out the job's work"),
        ("resume", "open a paused job again"),
        ("cancel", "end the job for good"),
    ]:
        transition = commands.add_parser(name, help=text)
        transition.add_argument("job", type=int)
        transition.set_defaults(handler=cmd_transition, action=name)

    progress = commands.add_parser("progress", help="the job's counts once")
    progress.add_argument("job", type=int)
    progress.add_argument("--json", action="store_true")
    progress.set_defaults(handler=cmd_progress)

    wait = commands.add_parser("wait", help="wait for the job with a live progress bar")
    _wait_options(wait)
    wait.add_argument("job", type=int)
    wait.set_defaults(handler=cmd_wait)

    results = commands.add_parser("results", help="download the job's results, streamed")
    results.add_argument("job", type=int)
    _results_options(results, required=False)
    results.set_defaults(handler=cmd_results)

    hooks = commands.add_parser("webhooks", help="webhook endpoints and their deliveries").add_subparsers(
        metavar="ACTION"
    )
    hooks_list = hooks.add_parser("list", help="your endpoints")
    hooks_list.add_argument("--json", action="store_true")
    hooks_list.set_defaults(handler=cmd_webhooks_list)
    hooks_create = hooks.add_parser("create", help="a new endpoint; prints its secret once")
    hooks_create.add_argument("url")
    hooks_create.add_argument("--event", "-e", action="append", required=True, dest="events", help="repeatable")
    hooks_create.add_argument("--job", type=int, help="only this job (default: all your jobs)")
    hooks_create.set_defaults(handler=cmd_webhooks_create)
    hooks_deliveries = hooks.add_parser("deliveries", help="an endpoint's deliveries")
    hooks_deliveries.add_argument("endpoint", type=int)
    hooks_deliveries.add_argument("--status", choices=["pending", "delivering", "delivered", "failed", "gave_up"])
    hooks_deliveries.add_argument("--job", type=int)
    hooks_deliveries.add_argument("--limit", type=int, default=100)
    hooks_deliveries.add_argument("--json", action="store_true")
    hooks_deliveries.set_defaults(handler=cmd_webhooks_deliveries)
    hooks_resend = hooks.add_parser("resend", help="queue a delivery again")
    hooks_resend.add_argument("delivery", type=int)
    hooks_resend.set_defaults(handler=cmd_webhooks_resend)

    run = commands.add_parser("run", help="create a job, upload its data, publish; optionally wait and download")
    run.add_argument("definition")
    run.add_argument("files", nargs="+", metavar="FILE")
    run.add_argument("--wait", action="store_true", help="wait until the job is done")
    _wait_options(run)
    _results_options(run, required=False)
    run.set_defaults(handler=cmd_run)
    return parser


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until", default="done", help="done (default), results, or a status such as open")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds (exit status 3)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks (default 2)")


def _results_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("-o", "--output", required=required, help="the file to write ('-' or none: stdout)")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--spreadsheet", action="store_true", help="CSV safe to open in a spreadsheet")


# -- the connection -----------------------------------------------------------------------------------------------


def connect(args: argparse.Namespace) -> Client:
    stored = load_config()
    url = args.url or os.environ.get("QUORUM_URL") or stored.get("url")
    token = args.token or os.environ.get("QUORUM_TOKEN") or stored.get("token")
    if not url:
        raise UsageError("no server: use --url, set QUORUM_URL, or run `quorum login --url URL`")
    if not token:
        raise UsageError("no API token: use --token, set QUORUM_TOKEN, or run `quorum login`")
    return Client(url, token)


def cmd_login(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("QUORUM_URL") or load_config().get("url")
    if not url:
        raise UsageError("name the server: quorum --url http://host:8000 login")
    username = args.username or input("Username: ")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    token = Client.fetch_token(url, username, password)
    path = save_config(url, token)
    print(f"signed in to {url} as {username}; token stored in {path}", file=sys.stderr)
    return 0


# -- jobs ---------------------------------------------------------------------------------------------------------


def cmd_jobs_create(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.create_job(args.definition)
    print(json.dumps(job.raw, indent=2) if args.json else job.id)
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        jobs = client.list_jobs(status=args.status)
    if args.json:
        print(json.dumps([job.raw for job in jobs], indent=2))
        return 0
    print(f"{'ID':>6}  {'STATUS':<9}  {'ITEMS':>8}  NAME")
    for job in jobs:
        print(f"{job.id:>6}  {job.status:<9}  {job.item_count:>8}  {job.name}")
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(json.dumps(client.get_job(args.job).raw, indent=2))
    return 0


def cmd_transition(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = getattr(client, args.action)(args.job)
    print(f"job {job.id} is {job.status}", file=sys.stderr)
    return 0


# -- uploads ------------------------------------------------------------------------------------------------------


def upload_files(client: Client, job_id: int, files: list[str], wait: bool = True) -> list[Upload]:
    uploads = []
    for path in files:
        bar = _bar(f"{os.path.basename(path)}: sending", as_bytes=True)
        try:
            upload = client.upload(job_id, path, progress=bar.update)
        finally:
            _close(bar)
        uploads.append(upload)
        print(f"upload {upload.id} accepted ({path})", file=sys.stderr)
    if not wait:
        return uploads
    finished = []
    for upload in uploads:
        bar = _bar(f"{upload.filename}: ingesting", unit="rows")
        try:
            done = client.wait_upload(upload, on_progress=_ingest_shown_on(bar))
        finally:
            _close(bar)
        print(f"upload {done.id}: {done.items_created} items, {done.microtasks_created} microtasks", file=sys.stderr)
        finished.append(done)
    return finished


def _ingest_shown_on(bar: ProgressBar) -> Callable[[Upload], None]:
    return lambda upload: bar.update(upload.rows_done, upload.rows_total, upload.status)


def cmd_upload(args: argparse.Namespace) -> int:
    with connect(args) as client:
        uploads = upload_files(client, args.job, args.files, wait=not args.no_wait)
    for upload in uploads:
        print(upload.id)
    return 0


# -- progress and waiting -----------------------------------------------------------------------------------------


def cmd_progress(args: argparse.Namespace) -> int:
    with connect(args) as client:
        progress = client.progress(args.job)
    if args.json:
        print(json.dumps(progress.raw, indent=2))
    else:
        print(progress_text(progress))
    return 0


def progress_text(p: Progress) -> str:
    return (
        f"job {p.job} {p.status}: {p.items_done}/{p.items} items answered, {p.results} results,"
        f" {p.answers} answers ({p.answers_remaining} to go), {p.workers_active} workers active"
    )


def wait_for(client: Client, job_id: int, args: argparse.Namespace) -> Progress:
    bar = _bar(f"job {job_id}", unit="items answered")

    def show(p: Progress) -> None:
        # The bar's ETA is the items left at the rate items were finished since the wait began.
        bar.update(p.items_done, p.items, f"{p.results} results  {p.status}")

    try:
        final = client.wait(job_id, args.until, timeout=args.timeout, poll=args.poll, on_progress=show)
    finally:
        _close(bar)
    return final


def cmd_wait(args: argparse.Namespace) -> int:
    with connect(args) as client:
        final = wait_for(client, args.job, args)
    print(progress_text(final), file=sys.stderr)
    return 0


# -- results ------------------------------------------------------------------------------------------------------


def download(client: Client, job_id: int, args: argparse.Namespace) -> int:
    to_stdout = args.output in (None, "-")
    bar = _bar(f"job {job_id} results", as_bytes=True)
    progress: Callable[[int, int | None], None] = lambda written, _total: bar.update(written)  # noqa: E731
    try:
        if to_stdout:
            written = client.download_results(
                job_id, sys.stdout.buffer, args.format, spreadsheet=args.spreadsheet, progress=progress
            )
            sys.stdout.buffer.flush()
        else:
            written = client.download_results(
                job_id, args.output, args.format, spreadsheet=args.spreadsheet, progress=progress
            )
    finally:
        _close(bar)
    if not to_stdout:
        print(f"results of job {job_id} written to {args.output} ({written} bytes)", file=sys.stderr)
    return written


def cmd_results(args: argparse.Namespace) -> int:
    with connect(args) as client:
        download(client, args.job, args)
    return 0


# -- webhooks -----------------------------------------------------------------------------------------------------


def cmd_webhooks_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        endpoints = client.list_webhooks()
    if args.json:
        print(json.dumps([e.raw for e in endpoints], indent=2))
        return 0
    print(f"{'ID':>6}  {'ACTIVE':<6}  {'JOB':>6}  {'EVENTS':<40}  URL")
    for e in endpoints:
        job = "all" if e.job is None else str(e.job)
        print(f"{e.id:>6}  {'yes' if e.active else 'no':<6}  {job:>6}  {','.join(e.events or []):<40}  {e.url}")
    return 0


def cmd_webhooks_create(args: argparse.Namespace) -> int:
    with connect(args) as client:
        endpoint = client.create_webhook(args.url, args.events, job=args.job)
    print(endpoint.id)
    if endpoint.secret:
        print(f"secret (shown this once; keep it to check X-Quorum-Signature): {endpoint.secret}", file=sys.stderr)
    return 0


def cmd_webhooks_deliveries(args: argparse.Namespace) -> int:
    with connect(args) as client:
        deliveries = client.deliveries(args.endpoint, status=args.status, job=args.job, limit=args.limit)
    if args.json:
        print(json.dumps([d.raw for d in deliveries], indent=2))
        return 0
    print(f"{'ID':>8}  {'EVENT':<14}  {'JOB':>6}  {'STATUS':<10}  {'TRIES':>5}  {'CODE':>4}  CREATED / ERROR")
    for d in deliveries:
        code = "" if d.response_code is None else str(d.response_code)
        job = "" if d.job is None else str(d.job)
        tail = d.created_at or ""
        if d.error:
            tail += f"  {' '.join(str(d.error).split())[:80]}"
        print(f"{d.id:>8}  {d.event:<14}  {job:>6}  {d.status:<10}  {d.attempts:>5}  {code:>4}  {tail}")
    return 0


def cmd_webhooks_resend(args: argparse.Namespace) -> int:
    with connect(args) as client:
        delivery = client.resend(args.delivery)
    print(
        f"delivery {delivery.id} queued again ({delivery.status}, {delivery.attempts} attempts so far)", file=sys.stderr
    )
    return 0


# -- all at once --------------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.create_job(args.definition)
        print(f"job {job.id} created", file=sys.stderr)
        upload_files(client, job.id, args.files)
        client.publish(job.id)
        print(f"job {job.id} published", file=sys.stderr)
        if args.wait:
            final = wait_for(client, job.id, args)
            print(progress_text(final), file=sys.stderr)
        if args.output:
            download(client, job.id, args)
    if args.output != "-":
        print(job.id)
    return 0


def _bar(label: str, **options: Any) -> ProgressBar:
    return ProgressBar(label, **options)


def _close(bar: ProgressBar) -> None:
    bar.close()


if __name__ == "__main__":
    sys.exit(main())
