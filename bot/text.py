"""Text as people type it: case, punctuation and accents ignored where names and words are compared."""

from __future__ import annotations

import unicodedata

from rapidfuzz import utils

# Letters that Unicode does not decompose into a base letter and an accent.
_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


def fold(text: str, **_: object) -> str:
    """Lower-case words without accents or punctuation ("Café Müller-Größe" -> "cafe muller grosse"):
    rapidfuzz's default processing after folding, so usable as a rapidfuzz `processor`."""
    if text.isascii():
        return utils.default_process(text)
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL))
    return utils.default_process("".join(c for c in decomposed if not unicodedata.combining(c)))


def like_any_accent(word: str) -> str:
    """A SQL LIKE pattern (for lower-cased names) that finds `word` typed without its accents: every
    letter that may carry one in the stored name matches any single character."""
    return "%" + "".join("_" if not (c.isascii() and c.isalnum()) or c in "aeiouycnszgl" else c for c in word) + "%"
