"""Which bodyparts are the front and the back of the animal, from their names.

Owns :func:`choose_anterior_posterior`, which picks keypoint-MoSeq's
``anterior_bodyparts`` and ``posterior_bodyparts`` where the names say so
(head, nose, snout; tail base, abdomen, tail) and otherwise answers None,
meaning "ask the user".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Each list is tried in order; the first rule any bodypart meets wins, and among
# bodyparts meeting it the first in the list. Names are compared lower-case with
# everything but letters and digits removed ("Tail_Base" -> "tailbase").
_ANTERIOR_RULES = (
    ("exact", ("nose", "snout", "head")),
    ("contains", ("nose", "snout", "head")),
)
_POSTERIOR_RULES = (
    ("exact", ("tailbase", "baseoftail", "tailroot", "tailstart", "tail0", "tail1")),
    ("exact", ("abdomen",)),
    ("contains", ("tailbase", "baseoftail", "tailroot")),
    ("contains", ("abdomen",)),
    ("exact", ("tail",)),
)


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _pick(bodyparts: Sequence[str], rules) -> str | None:
    names = [(b, _normalise(b)) for b in bodyparts]
    for how, words in rules:
        for word in words:
            for original, name in names:
                if (how == "exact" and name == word) or (how == "contains" and word in name):
                    return original
    return None


def choose_anterior_posterior(bodyparts: Sequence[str]) -> tuple[str | None, str | None]:
    """The front and back bodyparts, where the names say which they are.

    Parameters
    ----------
    bodyparts
        Bodypart names (e.g. ``use_bodyparts``).

    Returns
    -------
    anterior : str or None
        The first of nose, snout, head (exact names before names containing
        them); None when no name says so: ask the user.
    posterior : str or None
        A tail base (``tailbase``, ``tail_base``, ``base_of_tail``, ...), else
        ``abdomen``, else ``tail``; None when no name says so: ask the user.

    Examples
    --------
    >>> choose_anterior_posterior(["head", "thorax", "abdomen", "wingL"])
    ('head', 'abdomen')
    >>> choose_anterior_posterior(["nose", "left_ear", "tail_base", "tail_tip"])
    ('nose', 'tail_base')
    >>> choose_anterior_posterior(["bodypart1", "bodypart2"])
    (None, None)
    """
    anterior = _pick(bodyparts, _ANTERIOR_RULES)
    posterior = _pick([b for b in bodyparts if b != anterior], _POSTERIOR_RULES)
    return anterior, posterior
