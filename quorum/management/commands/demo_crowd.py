"""Simulated workers for the demo: each a real WebSocket client answering with a human-like pace."""

import asyncio
import random

from django.core.management.base import BaseCommand

from quorum.demo import demo_workers, simulated_worker


class Command(BaseCommand):
    help = "Run N simulated workers against a running platform until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=20)
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--think", type=float, nargs=2, default=(1.0, 4.0), metavar=("MIN", "MAX"))

    def handle(self, *args, **options):
        keys = demo_workers(options["workers"])
        ws_url = options["url"].replace("http", "ws", 1)
        rng = random.Random(11)
        # A crowd like a real one: mostly careful people, a few careless ones, one or two spammers.
        accuracies = [rng.choice([0.95, 0.9, 0.85, 0.8, 0.7, 0.5]) for _ in keys]
        self.stdout.write(f"{len(keys)} simulated workers answering at {ws_url}")

        async def crowd():
            await asyncio.gather(
                *[
                    simulated_worker(ws_url, k, a, tuple(options["think"]), i)
                    for i, (k, a) in enumerate(zip(keys, accuracies, strict=True))
                ]
            )

        try:
            asyncio.run(crowd())
        except KeyboardInterrupt:
            pass
