"""``manage.py aggregate``: aggregate any answers file into results, with the platform's methods, no database."""

import csv
import math
import sys

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from tasks.aggregation import METHODS
from tasks.aggregation.calibration import aggregate_with_gold
from tasks.aggregation.files import AnswersFileError, Codes, code_answers, parse_numbers, read_answers, read_gold
from tasks.aggregation.numeric import NUMERIC_METHODS
from tasks.aggregation.offline import gold_accuracy
from tasks.aggregation.text import normalise_text, text_vote

KINDS = ("categorical", "number", "text")


class Command(BaseCommand):
    help = (
        "Aggregate an answers file (header worker,item,label) into RESULTS.csv (item,label,confidence). "
        "A repeated (worker, item) pair keeps that worker's LAST answer in file order. With --gold (item,label) "
        "known labels teach the method about workers, each gold item's result comes from a run that held its own "
        "gold out, and accuracy on gold items is printed. Needs no database."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("answers", help="CSV with header worker,item,label")
        parser.add_argument("--gold", help="CSV with header item,label")
        parser.add_argument(
            "--kind", choices=KINDS, default="categorical", help="what the labels are (default categorical)"
        )
        parser.add_argument(
            "--method",
            default="auto",
            help=f"categorical: {', '.join(METHODS)}; number: {', '.join(NUMERIC_METHODS)}; text: vote, weighted "
            "(default auto)",
        )
        parser.add_argument("--out", required=True, help="where to write item,label,confidence")

    def handle(self, *args, **options):
        kind, method = options["kind"], options["method"]
        allowed = {"categorical": METHODS, "number": NUMERIC_METHODS, "text": {"auto": 0, "vote": 0, "weighted": 0}}[
            kind
        ]
        if method not in allowed:
            raise CommandError(f"unknown method '{method}' for --kind {kind}; choose one of: {', '.join(allowed)}")
        try:
            raw = read_answers(options["answers"])
            gold = read_gold(options["gold"]) if options["gold"] else None
            if kind == "number":
                values = parse_numbers(raw, options["answers"])
                if gold:
                    gold_values = {item: float(label) for item, label in gold.items() if _is_number(label)}
                    bad = [item for item in gold if item not in gold_values]
                    if bad:
                        raise AnswersFileError(
                            f"gold for item '{bad[0]}' is not a finite number", file=options["gold"], field="label"
                        )
        except AnswersFileError as exc:
            raise CommandError(str(exc)) from None

        if kind == "categorical":
            coded, gold_codes = code_answers(raw, gold)
            aggregate = METHODS[method]
            result = aggregate_with_gold(aggregate, coded.answers, gold_codes) if gold else aggregate(coded.answers)
            items = coded.items.values
            labels = [coded.labels.values[code] if code >= 0 else "" for code in result.labels.tolist()]
            confidence = result.confidence
            self.stdout.write(_calibration_line(result, bool(gold)))
            if gold:
                accuracy, n_gold = gold_accuracy(result.labels, gold_codes, coded.answers.answer_count() > 0)
                self.stdout.write(f"accuracy on {n_gold} gold items: {accuracy:.4f} (each held out of its own run)")
        else:
            item_codes = Codes()
            codes = item_codes.encode(raw.items)
            items = item_codes.values
            if kind == "number":
                numeric = NUMERIC_METHODS[method](codes, values, len(items))
                labels = [_format_number(v) for v in numeric.values.tolist()]
                confidence = numeric.confidence
                if gold:
                    scored = [
                        (numeric.values[i], gold_values[item]) for i, item in enumerate(items) if item in gold_values
                    ]
                    if scored:
                        errors = np.array([a - b for a, b in scored])
                        self.stdout.write(
                            f"on {len(scored)} gold items: MAE {np.abs(errors).mean():.4f}, "
                            f"RMSE {math.sqrt((errors**2).mean()):.4f}"
                        )
            else:
                workers = Codes().encode(raw.workers)
                texts = text_vote(codes, workers, raw.labels, len(items), weighted=method == "weighted")
                labels = [v or "" for v in texts.values]
                confidence = texts.confidence
                if gold:
                    scored = [
                        normalise_text(labels[i]) == normalise_text(gold[item])
                        for i, item in enumerate(items)
                        if item in gold
                    ]
                    if scored:
                        self.stdout.write(f"accuracy on {len(scored)} gold items: {np.mean(scored):.4f}")

        try:
            with open(options["out"], "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(["item", "label", "confidence"])
                for item, label, conf in zip(items, labels, confidence.tolist(), strict=True):
                    writer.writerow([item, label, "" if math.isnan(conf) else f"{conf:.6f}"])
        except OSError as exc:
            raise CommandError(f"{options['out']}: cannot write the results ({exc.strerror})") from None
        dropped = (
            f"; {raw.duplicates_dropped} repeated (worker, item) rows replaced by the later answer"
            if raw.duplicates_dropped
            else ""
        )
        self.stdout.write(
            f"{len(items)} items, {len(raw.labels)} answers{dropped}; method {method}; wrote {options['out']}"
        )
        sys.stdout.flush()


def _calibration_line(result, with_gold: bool) -> str:
    """How the confidence was calibrated (docs/AGGREGATION.md, "Confidence")."""
    chosen = ""
    if result.chosen and result.evidence:
        figures = ", ".join(f"{m} {ll:.4f}" for m, ll in result.evidence.items())
        best = max(result.evidence, key=lambda m: -math.inf if math.isnan(result.evidence[m]) else result.evidence[m])
        why = (
            "by held-out answers"
            if best == result.chosen
            else f"({best}, the best by held-out answers, invents a class)"
        )
        chosen = f" chose {result.chosen} {why} (log-likelihood per held-out answer: {figures});"
    source = "estimated from gold items" if with_gold else "the prior, no gold given"
    return (
        f"calibration:{chosen} temperature {result.temperature:g}; consensus error "
        f"{result.consensus_error:.3f} ({source})"
    )


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _format_number(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"
