from django import template

from quorum.money import money as money_text

register = template.Library()


@register.filter
def money(value, places=2) -> str:
    """{{ amount|money }} -> "USD 0.40"; {{ reward|money:4 }} -> "USD 0.0250" (quorum/money.py)."""
    return money_text(value, int(places))
