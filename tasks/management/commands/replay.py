"""``manage.py replay``: replay a real dataset through the platform's adaptive-redundancy policy, no database."""

from django.core.management.base import BaseCommand, CommandError

from tasks.aggregation import DEFAULT_METHOD, METHODS
from tasks.aggregation.files import AnswersFileError, code_answers, read_answers, read_gold
from tasks.aggregation.offline import DEFAULT_TARGET, parse_policy, replay


class Command(BaseCommand):
    help = (
        "Replay ANSWERS.csv (worker,item,label) as the platform would collect it: each item's answers arrive in a "
        "seeded random order; 'fixed:K' takes K per item, 'adaptive' starts at --min and adds one answer per item per "
        "round while tasks.aggregation.adaptive.needs_more_answers says so (consensus confidence under --target, up to --max "
        "or the answers the item has). Aggregates with the platform's default method and prints accuracy on gold "
        "items and the answers used. A repeated (worker, item) pair keeps that worker's LAST answer. Needs no database."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("answers", help="CSV with header worker,item,label")
        parser.add_argument("--gold", required=True, help="CSV with header item,label (used only to score)")
        parser.add_argument("--policy", required=True, help="fixed:K or adaptive")
        parser.add_argument(
            "--target", type=float, default=DEFAULT_TARGET, help=f"target confidence (default {DEFAULT_TARGET})"
        )
        parser.add_argument(
            "--min", dest="min_answers", type=int, default=3, help="answers every item gets (default 3)"
        )
        parser.add_argument(
            "--max", dest="max_answers", type=int, default=None, help="cap per item (default: all it has)"
        )
        parser.add_argument("--seed", type=int, default=0, help="order in which answers arrive (default 0)")
        parser.add_argument("--method", default=DEFAULT_METHOD, choices=list(METHODS), help="default: the platform's")

    def handle(self, *args, **options):
        try:
            policy, k = parse_policy(options["policy"])
        except ValueError as exc:
            raise CommandError(f"--policy: {exc}") from None
        if not 0 < options["target"] <= 1:
            raise CommandError(f"--target must be in (0, 1], got {options['target']}")
        if options["min_answers"] < 1 or (
            options["max_answers"] is not None and options["max_answers"] < options["min_answers"]
        ):
            raise CommandError("need 1 <= --min <= --max")
        try:
            raw = read_answers(options["answers"])
            gold = read_gold(options["gold"])
        except AnswersFileError as exc:
            raise CommandError(str(exc)) from None
        coded, gold_codes = code_answers(raw, gold)
        outcome = replay(
            coded.answers,
            gold_codes,
            policy=policy,
            fixed_k=k,
            target=options["target"],
            min_answers=options["min_answers"],
            max_answers=options["max_answers"],
            seed=options["seed"],
            method=options["method"],
        )
        if outcome.gold_items == 0:
            raise CommandError(f"{options['gold']}: none of its items has an answer in {options['answers']}")
        self.stdout.write(
            f"policy={options['policy']} method={options['method']} accuracy={outcome.accuracy:.4f} "
            f"gold_items={outcome.gold_items} answers_per_item={outcome.mean_answers:.2f} "
            f"answers_used={outcome.answers_used}/{outcome.answers_available} share={outcome.share:.3f}"
        )
