"""How an amount of money is written, everywhere: the deployment's currency, then two decimals ("USD 0.40").

Pages use the `money` template filter (quorum/templatetags/money.py), APIs and CSVs `money()` or `amount_text()`
with `currency()`; browser code shows the strings the server wrote.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils.formats import number_format


def currency() -> str:
    return settings.QUORUM_CURRENCY


def amount_text(value, places: int = 2) -> str:
    """The bare amount, two decimals unless asked: "0.40" (CSV cells and APIs, beside a currency field)."""
    if value is None or value == "":
        value = Decimal("0")
    return str(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def exact_amount_text(value) -> str:
    """Two decimals, or four where the amount has fractions of a cent (rewards per microtask may): what a payout
    CSV pays must be exactly what the ledger took off the balance."""
    value = Decimal(value)
    return amount_text(value, 2 if value == value.quantize(Decimal("0.01")) else 4)


def money(value, places: int = 2) -> str:
    """ "USD 0.40"; a negative amount "USD -0.40"; `places` for per-microtask rewards ("USD 0.0250"). Written for
    people, in the active language's number format ("USD 0,40" on a French page); machines get amount_text()."""
    return f"{currency()} {number_format(Decimal(amount_text(value, places)), decimal_pos=places)}"
