"""Create the demo requester (and, once, the demo job) so a first start shows something."""

from django.core.management.base import BaseCommand

from quorum.demo import demo_setup


class Command(BaseCommand):
    help = "Create the demo requester 'demo' and the demo job, if missing."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=10_000)

    def handle(self, *args, **options):
        message = demo_setup(items=options["items"])
        self.stdout.write(message)
