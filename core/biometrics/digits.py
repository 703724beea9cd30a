"""Turn a transcript of spoken digits ("Four, 7 - one.") into a digit string ("471").

Whisper writes digits as numerals or words, and spells a short word by its homophone when the
context is thin ("to" for 2, "for" for 4, "won" for 1). Number words always count; homophones
count only *in context*: when every word of the transcript is digit-like, or when they touch a
digit (directly or through a chain of homophones). So "four for one" is "441", but "I want to
say 4" is "4", not "24".
"""

from __future__ import annotations

import re

_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_HOMOPHONES = {
    "oh": "0",
    "o": "0",
    "won": "1",
    "to": "2",
    "too": "2",
    "tu": "2",
    "tree": "3",
    "for": "4",
    "fore": "4",
    "ate": "8",
    "nein": "9",
}
# Words split on anything that is not a letter or a digit; digit runs split into single digits.
_TOKEN = re.compile(r"\d|[^\W\d_]+")


def words_to_digits(text: str) -> str:
    """The digits spoken in ``text``, in order; words that are not digits are ignored."""
    tokens = _TOKEN.findall(text.lower())
    # Per token: its digit if it is certainly one, "" if it is a homophone, None otherwise.
    resolved: list[str | None] = []
    for tok in tokens:
        if tok.isdecimal():
            resolved.append(str(int(tok)))
        elif tok in _WORDS:
            resolved.append(_WORDS[tok])
        elif tok in _HOMOPHONES:
            resolved.append("")
        else:
            resolved.append(None)
    if all(r is not None for r in resolved):
        return "".join(r or _HOMOPHONES[t] for r, t in zip(resolved, tokens, strict=True))
    # Grow digit runs into adjacent homophones until nothing changes.
    changed = True
    while changed:
        changed = False
        for i, r in enumerate(resolved):
            if r != "":
                continue
            neighbours = resolved[max(i - 1, 0) : i] + resolved[i + 1 : i + 2]
            if any(n for n in neighbours):
                resolved[i] = _HOMOPHONES[tokens[i]]
                changed = True
    return "".join(r for r in resolved if r)
