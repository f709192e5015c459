"""The demo's simulated crowd answers from what workers are shown: the transaction's text column only."""

import random

from quorum.demo import demo_answer

JOB = {"options": ["yes", "no"], "question_type": "single_choice"}


def test_a_perfect_simulated_worker_reads_amount_and_merchant_from_the_text():
    rng = random.Random(1)

    def answer(text: str) -> str:
        return demo_answer(JOB, {"id": 1, "data": {"text": text}, "text": text}, 1.0, rng)

    assert answer("512.00 EUR at Coffee House (DE) on 2026-11-01 10:00") == "yes"
    assert answer("12.00 EUR at Casino Royale (FR) on 2026-11-02 11:00") == "yes"
    assert answer("12.00 EUR at Bookshop (FR) on 2026-11-03 12:00") == "no"
