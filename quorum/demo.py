"""The demo: a requester 'demo' with a job reviewing generated financial transactions."""

import csv
import random
import tempfile
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model

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
        return "demo requester and job already exist"
    job = services.job_create(
        owner=user,
        name=DEMO_JOB,
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
    return f"demo requester '{DEMO_USERNAME}' and job '{DEMO_JOB}' ({job.item_count} items) created"
