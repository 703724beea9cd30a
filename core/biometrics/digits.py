"""Turn a transcript of spoken digits ("Four, 7 - one.") into a digit string ("471").

``NUMBER_WORDS`` spells the ten digits in each language a terminal may use; in English,
whisper writes digits as numerals or words, and spells a short word by its homophone when the
context is thin ("to" for 2, "for" for 4, "won" for 1). Number words always count; homophones
count only *in context*: when every word of the transcript is digit-like, or when they touch a
digit (directly or through a chain of homophones). So "four for one" is "441", but "I want to
say 4" is "4", not "24".
"""

from __future__ import annotations

import re

from schemas.enums import Language

# Per language, per digit, the spellings whisper writes (a common colloquial or alternative
# form included: Arabic "اتنين" beside "اثنان", Azerbaijani "dört" beside "dörd").
NUMBER_WORDS: dict[Language, tuple[tuple[str, ...], ...]] = {
    Language.EN: (
        ("zero",),
        ("one",),
        ("two",),
        ("three",),
        ("four",),
        ("five",),
        ("six",),
        ("seven",),
        ("eight",),
        ("nine",),
    ),
    Language.FR: (
        ("zéro",),
        ("un", "une"),
        ("deux",),
        ("trois",),
        ("quatre",),
        ("cinq",),
        ("six",),
        ("sept",),
        ("huit",),
        ("neuf",),
    ),
    Language.AR: (
        ("صفر",),
        ("واحد",),
        ("اثنان", "اثنين", "إثنان", "اتنين"),
        ("ثلاثة", "ثلاث", "تلاتة"),
        ("أربعة", "اربعة", "أربع"),
        ("خمسة", "خمس"),
        ("ستة", "ست"),
        ("سبعة", "سبع"),
        ("ثمانية", "ثماني", "تمانية"),
        ("تسعة", "تسع"),
    ),
    Language.AZ: (
        ("sıfır",),
        ("bir",),
        ("iki",),
        ("üç",),
        ("dörd", "dört"),
        ("beş",),
        ("altı",),
        ("yeddi",),
        ("səkkiz",),
        ("doqquz", "dokuz"),
    ),
}
_WORDS = {w: str(d) for d, ws in enumerate(NUMBER_WORDS[Language.EN]) for w in ws}
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


def words_to_digits(text: str, language: Language = Language.EN) -> str:
    """The digits spoken in ``text``, in order; words that are not digits are ignored.

    Outside English, only numerals and that language's number words count (no homophones).
    """
    if language is not Language.EN:
        words = {w: str(d) for d, ws in enumerate(NUMBER_WORDS[language]) for w in ws}
        return "".join(
            str(int(t)) if t.isdecimal() else words[t]
            # Azerbaijani "İ" lower-cases to "i" plus a combining dot.
            for t in _TOKEN.findall(text.lower().replace("i\u0307", "i"))
            if t.isdecimal() or t in words
        )
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
