"""What a new username may be, and when two usernames are the same name to a reader.

New usernames (sign-up, admin) are 3 to 30 ASCII letters, digits and ``. _ -``, starting and ending with a letter
or digit: no HTML, no control or formatting characters (right-to-left overrides, zero-width joiners), no
homoglyphs from other scripts. A name is also refused when it looks like an existing one: both are reduced to
a *skeleton* and compared. The skeleton is deliberately small and stable, since it is stored
(``User.username_skeleton``) and indexed:

1. Unicode NFKC, then casefold (``Demo`` = ``demo``; full-width and other compatibility forms fold to ASCII);
2. the separators ``.``, ``_`` and ``-`` are dropped (``d.emo`` = ``demo``);
3. ``rn`` becomes ``m`` and ``vv`` becomes ``w``;
4. ``0`` becomes ``o``; ``1`` and ``i`` become ``l`` (``dem0`` = ``demo``, ``Al1ce`` = ``alice``).

Sign-in uses the username exactly as stored (case-sensitive, like Django's default); since no two accounts can
now share a skeleton, a mistyped case simply fails to sign in and never reaches someone else's account.
"""

import re
import unicodedata

from django.utils.translation import gettext, gettext_lazy

MIN_LENGTH = 3
MAX_LENGTH = 30
_ALLOWED = re.compile(r"[A-Za-z0-9._-]")
_SEPARATORS = str.maketrans("", "", "._-")
_LOOK_ALIKES = str.maketrans({"0": "o", "1": "l", "i": "l"})


def username_skeleton(username: str) -> str:
    """The form two usernames share when a reader could take one for the other (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", username).casefold().translate(_SEPARATORS)
    return folded.replace("rn", "m").replace("vv", "w").translate(_LOOK_ALIKES)


def username_problem(username: str) -> str | None:
    """What is wrong with this as a new username, or None. Says nothing about names already taken."""
    if not MIN_LENGTH <= len(username) <= MAX_LENGTH:
        return gettext("use %(min)d to %(max)d characters (this has %(length)d)") % {
            "min": MIN_LENGTH,
            "max": MAX_LENGTH,
            "length": len(username),
        }
    bad = sorted({ch for ch in username if not _ALLOWED.fullmatch(ch)})
    if bad:
        shown = " ".join(ascii(ch) for ch in bad[:5])
        return gettext("use only ASCII letters, digits and . _ - (not %(shown)s)") % {"shown": shown}
    if not (username[0].isalnum() and username[-1].isalnum()):
        return gettext("start and end with a letter or a digit")
    return None


def username_taken(username: str, *, exclude_user_id: int | None = None) -> bool:
    """Whether an account (other than exclude_user_id's) exists whose name is this one, or looks like it."""
    from .models import User

    return User.objects.filter(username_skeleton=username_skeleton(username)).exclude(pk=exclude_user_id).exists()


TAKEN_MESSAGE = gettext_lazy(
    "this username is taken, or looks too much like one that is (names that differ only in capitals,"
    " in . _ -, or in look-alike characters such as 0/o and 1/l count as the same)"
)


def username_errors(username: str, *, exclude_user_id: int | None = None) -> list[str]:
    """The field errors for a username someone chose: its form first, then whether it is free (a user being
    renamed is exclude_user_id, so that their own current name does not count against them)."""
    problem = username_problem(username)
    if problem:
        return [problem]
    return [str(TAKEN_MESSAGE)] if username_taken(username, exclude_user_id=exclude_user_id) else []
