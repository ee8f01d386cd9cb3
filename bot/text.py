"""Text as people type it: accents folded for matching names ("cafe muller" is "Café Müller")."""

from __future__ import annotations

import unicodedata

from rapidfuzz import utils

# letters that do not decompose into a base letter and an accent
_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"})


def fold(text: str, **_: object) -> str:
    """Lower case without accents, punctuation as spaces (rapidfuzz's default processing after folding);
    usable as a rapidfuzz `processor`."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return utils.default_process(bare)
