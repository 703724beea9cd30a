"""Chimeric users and their trials, built from a data folder (``faces/`` and ``voices/``).

Layout read: ``faces/identities.csv`` (``file,identity``; photos beside it) and
``voices/{digit}_{speaker}_{index}.wav``. :func:`read_faces` and :func:`read_voices` are the one
reader of that layout (checked paths, natural order), also used by the simulated people and the
canary's golden samples. The project carries a small such folder, :data:`DEFAULT_DATA_DIR`
(``tests/data``); larger ones with the same layout are passed by path.

**Users.** No data set has both a face and a voice of one person, so a user is *chimeric*: one
face identity paired with one voice speaker. Face identities (sorted) are the users; speakers
(sorted) are dealt out round-robin, so with 13 identities and 4 speakers, user *i* gets speaker
``i mod 4`` and each speaker backs 3–4 users. Identities with fewer than 2 photos cannot give
both an enrolment and a probe photo and are left out (listed in :meth:`ChimericDataset.describe`).

**What a "different person" is.** Two users who share a speaker have *the same voice*: a voice
comparison between them is neither genuine (another user) nor impostor (same person), so it is
excluded from the voice trials, and such pairs never form an impostor attempt. Each speaker's
clips are partitioned between its users (clip index position ``mod m``), so no clip is used by
two users.

**Enrolment and probes never share media.** Per identity, the first ``min(face_enrol, n - 1)``
photos in natural file order are enrolled and the rest are probes (identities with 2–3 photos
enrol 1–2). Voice enrolment is ``enrol_utterances`` joined digit strings cycling through all
ten digits; the probes are the spoken challenges (``digits_per_challenge`` random digits,
seeded), both drawn without replacement from the user's own clips.

**Trials.** Per modality, every probe is compared with every user's template (minus the excluded
same-speaker pairs). An *attempt* — what a login presents — is attempt *k* of a user: its
challenge *k* with face probe ``k mod n_probes``. Attempts against a claimed user are genuine
(own attempt), ``impostor_both`` (another person's face and voice: the zero-effort impostor),
``impostor_face`` (the victim's voice, someone else's face) or ``impostor_voice`` (the victim's
face, someone else's voice).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data"
"""The data set vendored with the project: the default of the tests, the demo and the tools.

It exists in a source checkout only; an installed package must be given a data folder.
"""

CANARY_CLIPS = 3
"""The last clips of each digit and speaker are the canary's golden samples
(:mod:`core.biometrics.golden`); the simulated people (:mod:`producers.people`) never say them."""

_VOICE_FILE = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>\d+)\.wav$")
_DIGIT_RUN = re.compile(r"(\d+)")


class DatasetError(ValueError):
    """The data folder is missing or does not have the expected layout."""


class DatasetConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_users: int | None = Field(default=None, ge=2)
    face_enrol: int = Field(default=3, ge=1)
    enrol_utterances: int = Field(default=3, ge=1)
    digits_per_enrol_utterance: int = Field(default=4, ge=1)
    challenges_per_user: int = Field(default=10, ge=1)
    digits_per_challenge: int = Field(default=3, ge=1)
    seed: int = 0


class Utterance(BaseModel):
    """Digit clips of one speaker, to be joined into one recording."""

    model_config = ConfigDict(frozen=True)

    key: str
    digits: tuple[int, ...]
    clips: tuple[Path, ...]

    @property
    def text(self) -> str:
        """The digit string asked for and expected back ("471")."""
        return "".join(str(d) for d in self.digits)


class ChimericUser(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    face_identity: str
    speaker: str
    face_enrol: tuple[Path, ...]
    face_probes: tuple[Path, ...]
    voice_enrol: tuple[Utterance, ...]
    challenges: tuple[Utterance, ...]

    def face_probe_for(self, attempt: int) -> Path:
        return self.face_probes[attempt % len(self.face_probes)]


class TrialKind(StrEnum):
    GENUINE = "genuine"
    IMPOSTOR = "impostor"


class Trial(BaseModel):
    """One probe sample compared with one claimed user's template, in one modality."""

    model_config = ConfigDict(frozen=True)

    probe: str  # face: photo path; voice: utterance key
    source: int  # index of the user the probe belongs to
    claimed: int
    kind: TrialKind


class AttemptKind(StrEnum):
    GENUINE = "genuine"
    IMPOSTOR_BOTH = "impostor_both"
    IMPOSTOR_FACE = "impostor_face"
    IMPOSTOR_VOICE = "impostor_voice"


class Attempt(BaseModel):
    """A login: a face probe and a spoken challenge presented for a claimed user."""

    model_config = ConfigDict(frozen=True)

    claimed: int
    face_probe: str
    face_source: int
    voice_probe: str
    voice_source: int
    kind: AttemptKind

    @classmethod
    def of(
        cls, claimed: int, face: tuple[str, int], voice: tuple[str, int], kind: AttemptKind
    ) -> Attempt:
        """``face`` and ``voice`` are (probe, index of the user it comes from)."""
        return cls(
            claimed=claimed,
            face_probe=face[0],
            face_source=face[1],
            voice_probe=voice[0],
            voice_source=voice[1],
            kind=kind,
        )


class ChimericDataset(BaseModel):
    model_config = ConfigDict(frozen=True)

    root: Path
    config: DatasetConfig
    users: tuple[ChimericUser, ...]
    excluded_identities: tuple[str, ...]

    def same_voice(self, a: int, b: int) -> bool:
        return self.users[a].speaker == self.users[b].speaker

    def face_trials(self) -> list[Trial]:
        """Every face probe against every user's face template (identities are all distinct)."""
        return [
            Trial(
                probe=str(photo),
                source=s,
                claimed=c,
                kind=TrialKind.GENUINE if s == c else TrialKind.IMPOSTOR,
            )
            for s, user in enumerate(self.users)
            for photo in user.face_probes
            for c in range(len(self.users))
        ]

    def voice_trials(self) -> list[Trial]:
        """Every challenge against every voice template, except another user of the same speaker."""
        return [
            Trial(
                probe=utt.key,
                source=s,
                claimed=c,
                kind=TrialKind.GENUINE if s == c else TrialKind.IMPOSTOR,
            )
            for s, user in enumerate(self.users)
            for utt in user.challenges
            for c in range(len(self.users))
            if s == c or not self.same_voice(s, c)
        ]

    def attempts(self) -> list[Attempt]:
        out: list[Attempt] = []
        for c, claimed in enumerate(self.users):
            for k, own_challenge in enumerate(claimed.challenges):
                own_face, own_voice = str(claimed.face_probe_for(k)), own_challenge.key
                out.append(Attempt.of(c, (own_face, c), (own_voice, c), AttemptKind.GENUINE))
                for s, other in enumerate(self.users):
                    if s == c:
                        continue
                    # Attempt k of the other user: their face probe and their challenge k.
                    face = (str(other.face_probe_for(k)), s)
                    out.append(Attempt.of(c, face, (own_voice, c), AttemptKind.IMPOSTOR_FACE))
                    if self.same_voice(s, c):
                        continue
                    voice = (other.challenges[k].key, s)
                    out.append(Attempt.of(c, face, voice, AttemptKind.IMPOSTOR_BOTH))
                    out.append(Attempt.of(c, (own_face, c), voice, AttemptKind.IMPOSTOR_VOICE))
        return out

    def utterances(self) -> dict[str, Utterance]:
        return {u.key: u for user in self.users for u in (*user.voice_enrol, *user.challenges)}

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description of how the users were formed (for ``eval.json``)."""
        return {
            "root": str(self.root),
            "users": [
                {
                    "user_id": u.user_id,
                    "face_identity": u.face_identity,
                    "speaker": u.speaker,
                    "face_enrol": len(u.face_enrol),
                    "face_probes": len(u.face_probes),
                    "voice_enrol_utterances": len(u.voice_enrol),
                    "challenges": len(u.challenges),
                }
                for u in self.users
            ],
            "excluded_identities": list(self.excluded_identities),
            "speakers": sorted({u.speaker for u in self.users}),
            "config": self.config.model_dump(),
            "pairing": (
                "chimeric: face identities in sorted order, speakers dealt round-robin in sorted "
                "order; users sharing a speaker are never compared by voice nor paired as "
                "impostors; each speaker's clips are split between its users"
            ),
        }


def _natural_key(name: str) -> tuple[Any, ...]:
    """``img2`` before ``img10``."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGIT_RUN.split(name))


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    if not folder.is_dir():
        raise DatasetError(
            f"{folder} is not a folder: {root} must hold faces/ and voices/ "
            f"(the project's own set is {DEFAULT_DATA_DIR} in a source checkout)"
        )
    return folder


def read_faces(root: Path) -> dict[str, list[Path]]:
    """Identity -> its photos in natural file order; :class:`DatasetError` on a bad layout."""
    faces_dir = _folder(root, "faces")
    index = faces_dir / "identities.csv"
    if not index.is_file():
        raise DatasetError(f"{index} is missing")
    by_identity: dict[str, list[Path]] = defaultdict(list)
    with index.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"file", "identity"} <= set(reader.fieldnames):
            raise DatasetError(f"{index} must have the columns file,identity")
        for row in reader:
            photo = faces_dir / row["file"]
            # The name comes from a data file: keep it inside the faces folder.
            if photo.resolve().parent != faces_dir.resolve() or not photo.is_file():
                raise DatasetError(f"{index} names {row['file']!r}, which is not a photo there")
            by_identity[row["identity"]].append(photo)
    if not by_identity:
        raise DatasetError(f"{index} lists no photos")
    return {k: sorted(v, key=lambda p: _natural_key(p.name)) for k, v in by_identity.items()}


def read_voices(root: Path) -> dict[str, dict[int, list[Path]]]:
    """Speaker -> digit -> clips in index order; :class:`DatasetError` on a bad layout."""
    voices_dir = _folder(root, "voices")
    found: dict[str, dict[int, list[tuple[int, Path]]]] = defaultdict(lambda: defaultdict(list))
    for path in voices_dir.iterdir():
        match = _VOICE_FILE.match(path.name)
        if match:
            found[match["speaker"]][int(match["digit"])].append((int(match["index"]), path))
    if not found:
        raise DatasetError(f"{voices_dir} has no {{digit}}_{{speaker}}_{{index}}.wav clips")
    return {
        speaker: {d: [p for _, p in sorted(clips)] for d, clips in digits.items()}
        for speaker, digits in found.items()
    }


class _ClipPool:
    """One user's share of a speaker's clips, drawn without replacement in a seeded order."""

    def __init__(
        self, clips: dict[int, list[Path]], rank: int, sharers: int, rng: np.random.Generator
    ) -> None:
        self._rng = rng
        self._deck: list[int] = []
        self._pool: dict[int, list[Path]] = {}
        for digit in sorted(clips):
            mine = clips[digit][rank::sharers]
            self._pool[digit] = [mine[i] for i in rng.permutation(len(mine))]

    def draw(self, n_digits: int, key: str, *, cover: bool = False) -> Utterance:
        """``n_digits`` clips; random digits, or with ``cover`` cycling through all digits.

        Challenges are random digits, as a login would ask. Enrolment uses ``cover`` — like a
        "say 0 to 9" prompt — so the template hears every digit rather than repeats of a few.
        """
        digits: list[int] = []
        clips: list[Path] = []
        for _ in range(n_digits):
            available = [d for d, left in self._pool.items() if left]
            if not available:
                raise DatasetError(
                    f"not enough voice clips for {key}: ask for fewer challenges or utterances"
                )
            if cover:
                if not any(d in available for d in self._deck):
                    self._deck = [available[i] for i in self._rng.permutation(len(available))]
                digit = next(d for d in self._deck if d in available)
                self._deck.remove(digit)
            else:
                digit = available[int(self._rng.integers(len(available)))]
            digits.append(digit)
            clips.append(self._pool[digit].pop())
        return Utterance(key=key, digits=tuple(digits), clips=tuple(clips))


def load_dataset(root: Path, config: DatasetConfig | None = None) -> ChimericDataset:
    """Build the chimeric users from ``root``; raise :class:`DatasetError` on a bad layout."""
    config = config or DatasetConfig()
    faces = read_faces(root)
    voices = read_voices(root)

    identities = sorted(faces)
    excluded = tuple(i for i in identities if len(faces[i]) < 2)
    usable = [i for i in identities if i not in excluded]
    if config.max_users is not None:
        usable = usable[: config.max_users]
    speakers = sorted(voices)
    if len(usable) < 2 or len(speakers) < 2:
        raise DatasetError(
            f"{root}: need at least 2 face identities with 2+ photos and 2 speakers, found "
            f"{len(usable)} and {len(speakers)}"
        )

    assigned = [speakers[i % len(speakers)] for i in range(len(usable))]
    users: list[ChimericUser] = []
    for i, (identity, speaker) in enumerate(zip(usable, assigned, strict=True)):
        sharers = assigned.count(speaker)
        rank = assigned[:i].count(speaker)
        pool = _ClipPool(voices[speaker], rank, sharers, np.random.default_rng([config.seed, i]))
        user_id = f"user{i + 1:02d}"
        photos = faces[identity]
        n_enrol = min(config.face_enrol, len(photos) - 1)
        voice_enrol = tuple(
            pool.draw(config.digits_per_enrol_utterance, f"{user_id}/enrol{j}", cover=True)
            for j in range(config.enrol_utterances)
        )
        challenges = tuple(
            pool.draw(config.digits_per_challenge, f"{user_id}/challenge{j}")
            for j in range(config.challenges_per_user)
        )
        users.append(
            ChimericUser(
                user_id=user_id,
                face_identity=identity,
                speaker=speaker,
                face_enrol=tuple(photos[:n_enrol]),
                face_probes=tuple(photos[n_enrol:]),
                voice_enrol=voice_enrol,
                challenges=challenges,
            )
        )
    return ChimericDataset(
        root=root, config=config, users=tuple(users), excluded_identities=excluded
    )
