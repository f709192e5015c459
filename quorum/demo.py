"""The demo: a requester 'demo' with a job reviewing generated financial transactions, and simulated workers
that answer it over real WebSockets (``make run ARGS="--demo-crowd 20"``)."""

import csv
import random
import re
import tempfile
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model

from quorum.demo_digits import digit_templates, digits_setup, read_digit
from tasks import services
from tasks.models import Job
from workers.services import user_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_JOB = "Suspicious transactions (demo)"
MERCHANTS = [
    "Corner Grocery", "City Fuel", "Online Electronics", "Airline Tickets", "Coffee House", "Pharmacy Plus",
    "Luxury Watches", "Crypto Exchange", "Gift Cards Direct", "Hotel Booking", "Bookshop", "Casino Royale",
]  # fmt: skip
COUNTRIES = ["DE", "FR", "US", "GB", "NL", "ES", "NG", "RU", "BR", "IN", "CN", "SE"]


def generate_transactions(path: str, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "amount", "merchant", "country", "time"])
        for i in range(count):
            amount = round(rng.lognormvariate(3.5, 1.3), 2)
            merchant = rng.choice(MERCHANTS)
            country = rng.choice(COUNTRIES)
            when = start + timedelta(seconds=rng.randrange(30 * 86400))
            text = f"{amount:.2f} EUR at {merchant} ({country}) on {when:%Y-%m-%d %H:%M}"
            writer.writerow([f"tx-{i:06d}", text, f"{amount:.2f}", merchant, country, when.isoformat()])


def demo_setup(items: int = 10_000) -> str:
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = user_create(username=DEMO_USERNAME, password=DEMO_PASSWORD, role=User.Role.REQUESTER)
    if Job.objects.filter(owner=user, name=DEMO_JOB).exists():
        return "demo requester and job already exist; " + digits_setup(user)
    job = services.job_create(
        owner=user,
        name=DEMO_JOB,
        demo=True,
        instructions="Look at each card transaction. Is it suspicious (possible fraud)?",
        question="Is this transaction suspicious?",
        question_type="single_choice",
        options=["yes", "no"],
        text_field="text",
        redundancy=3,
        priority=5,
        reward="0.02",
    )
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as tmp:
        path = tmp.name
    generate_transactions(path, items)
    upload = services.upload_create(job=job, filename="transactions.csv", source=path, in_background=False)
    services.upload_ingest(upload.pk)
    job.refresh_from_db()
    services.job_publish(job)
    return f"demo requester '{DEMO_USERNAME}' and job '{DEMO_JOB}' ({job.item_count} items) created; " + digits_setup(
        user
    )


RISKY_MERCHANTS = {"Luxury Watches", "Crypto Exchange", "Gift Cards Direct", "Casino Royale"}
# Workers see only the job's text column ("123.45 EUR at Merchant (DE) on ..."): simulated ones read it as people do.
TRANSACTION_TEXT = re.compile(r"^(?P<amount>[\d.]+) EUR at (?P<merchant>.+) \((?P<country>[A-Z]+)\) on ")


def demo_workers(count: int) -> list[str]:
    """API tokens of ``count`` simulated workers (created once, reused on the next start)."""
    from workers.tokens import token_for_signin

    User = get_user_model()
    keys = []
    for i in range(1, count + 1):
        user = User.objects.filter(username=f"demo-worker-{i}").first()
        if user is None:
            user = user_create(username=f"demo-worker-{i}", password=None, role=User.Role.WORKER)
        keys.append(token_for_signin(user).key)  # a fresh one if the last start's has expired
    return keys


def demo_answer(job: dict, item: dict, accuracy: float, rng: random.Random, seen: str | None = None):
    """What a simulated worker answers: right with probability ``accuracy`` on the demo jobs, else a guess.
    ``seen`` is what the worker made of the item's image (the digits job), if it has one."""
    options = job.get("options") or []
    if seen is not None and seen in options and rng.random() < accuracy:
        return seen
    kind = job.get("question_type")
    if kind == "number":
        return round(rng.uniform(0, 100), 1)
    if kind == "free_text":
        return rng.choice(["looks fine", "unclear", "needs review"])
    if not options:
        return ""
    data = item.get("data", {})
    if "amount" not in data and (found := TRANSACTION_TEXT.match(str(item.get("text", "")))):
        data = found.groupdict()
    if set(options) == {"yes", "no"} and "amount" in data:
        try:
            amount = float(data["amount"])
        except ValueError:
            amount = 0
        truth = "yes" if amount > 400 or data.get("merchant") in RISKY_MERCHANTS else "no"
        if rng.random() < accuracy:
            return truth
    choice = rng.choice(options)
    return [choice] if kind == "multiple_choice" else choice


async def simulated_worker(ws_url: str, key: str, accuracy: float, think: tuple[float, float], seed: int) -> None:
    """One simulated worker: a real WebSocket client that answers what it is given, forever."""
    import asyncio
    import json
    import uuid

    import websockets

    rng = random.Random(seed)
    templates = digit_templates()

    def look(url: str) -> str | None:
        """Fetch an item's image as the worker's browser would (their token, a signed URL) and read it."""
        from urllib.parse import urljoin
        from urllib.request import Request, urlopen

        http_url = urljoin(ws_url.replace("ws", "http", 1) + "/", url)
        try:
            with urlopen(Request(http_url, headers={"Authorization": f"Token {key}"}), timeout=10) as response:
                return read_digit(response.read(1_000_000), templates)
        except OSError:
            return None

    while True:
        try:
            async with websockets.connect(f"{ws_url}/ws/work/?token={key}") as ws:
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg["type"] != "task.assigned":
                        continue
                    await asyncio.sleep(rng.uniform(*think))
                    seen = [
                        await asyncio.to_thread(look, next(iter(i["media"].values()))) if i.get("media") else None
                        for i in msg["items"]
                    ]
                    answers = [
                        {"item": i["id"], "value": demo_answer(msg["job"], i, accuracy, rng, s)}
                        for i, s in zip(msg["items"], seen, strict=True)
                    ]
                    await ws.send(
                        json.dumps(
                            {
                                "type": "answer.submit",
                                "key": uuid.uuid4().hex,
                                "assignment_id": msg["assignment"]["id"],
                                "answers": answers,
                            }
                        )
                    )
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(2)
