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
both an enrolment and a probe photo and are left out; speakers whose clips cannot give an
enrolment and one challenge are left out (both listed in :meth:`ChimericDataset.describe`).

**A speaker's voice material is drawn once.** Voice enrolment is ``enrol_utterances`` joined
digit strings cycling through all ten digits; the probes are the spoken challenges
(``digits_per_challenge`` random digits, seeded), both drawn without replacement from the
speaker's clips: as many challenges as the clips allow, up to ``challenges_per_user`` (some
speakers have few clips). Every user backed by a speaker has that same material: two users who
share a speaker have *the same voice*, so a voice comparison between them is neither genuine
nor impostor and is never made, and voice trials are made once per speaker (its first user
stands for it: :meth:`ChimericDataset.voice_owner`).

**Enrolment and probes never share media.** Per identity, the first ``min(face_enrol, n - 1)``
photos in natural file order are enrolled and the rest are probes (identities with 2–3 photos
enrol 1–2).

**Trials.** Per modality, every probe is compared with every template (faces: every user's;
voices: every speaker's). An *attempt* — what a login presents — is genuine for attempt *k* of a
user: its speaker's challenge *k* with face probe ``k mod n_probes``. Impostor attempts cross
faces and voices of other people (chimeric impostors) and are drawn, seeded, up to
``impostor_attempts`` of each kind from every possible combination: ``impostor_both`` (any other
identity's face probe with any other speaker's challenge: the zero-effort impostor),
``impostor_face`` (the victim's own challenge with another identity's face) and
``impostor_voice`` (the victim's own face probe with another speaker's challenge).

**Folds.** :meth:`ChimericDataset.halves` splits the users into two halves that share no face
identity and no speaker (speakers alternate in sorted order; a user goes with its speaker), so
a policy fitted on one half can be measured on people it has never seen.
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

from schemas.enums import Language

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
    # Per impostor kind; 40,000 zero-effort attempts resolve FMR 1e-4 (4 expected errors).
    impostor_attempts: int = Field(default=40_000, ge=1)
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
    language: Language = Language.EN  # what the speaker speaks: the challenge is heard in it

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
    excluded_speakers: tuple[str, ...] = ()
    fold: str = "all"

    def same_voice(self, a: int, b: int) -> bool:
        return self.users[a].speaker == self.users[b].speaker

    def voice_owner(self, user: int) -> int:
        """The first user backed by ``user``'s speaker: voice trials are made in its name."""
        speaker = self.users[user].speaker
        return next(i for i, u in enumerate(self.users) if u.speaker == speaker)

    def _voice_owners(self) -> list[int]:
        return [i for i in range(len(self.users)) if self.voice_owner(i) == i]

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
        """Every speaker's challenges against every speaker's template (by their owners)."""
        owners = self._voice_owners()
        return [
            Trial(
                probe=utt.key,
                source=s,
                claimed=c,
                kind=TrialKind.GENUINE if s == c else TrialKind.IMPOSTOR,
            )
            for s in owners
            for utt in self.users[s].challenges
            for c in owners
        ]

    def attempts(self) -> list[Attempt]:
        """Genuine attempts, then up to ``impostor_attempts`` seeded attempts of each impostor
        kind. ``voice_source`` is the voice owner of the challenge's speaker."""
        users = self.users
        faces = [(str(p), s) for s, u in enumerate(users) for p in u.face_probes]
        voices = [(utt.key, s) for s in self._voice_owners() for utt in users[s].challenges]
        out: list[Attempt] = []
        for c, user in enumerate(users):
            owner = self.voice_owner(c)
            for k, challenge in enumerate(user.challenges):
                face = (str(user.face_probe_for(k)), c)
                out.append(Attempt.of(c, face, (challenge.key, owner), AttemptKind.GENUINE))
        other_faces = [[f for f in faces if f[1] != c] for c in range(len(users))]
        other_voices = [
            [v for v in voices if not self.same_voice(v[1], c)] for c in range(len(users))
        ]
        own_faces = [[(str(p), c) for p in u.face_probes] for c, u in enumerate(users)]
        own_voices = [
            [(utt.key, self.voice_owner(c)) for utt in u.challenges] for c, u in enumerate(users)
        ]
        pools = {
            AttemptKind.IMPOSTOR_BOTH: (other_faces, other_voices),
            AttemptKind.IMPOSTOR_FACE: (other_faces, own_voices),
            AttemptKind.IMPOSTOR_VOICE: (own_faces, other_voices),
        }
        for n, (kind, (face_pool, voice_pool)) in enumerate(pools.items()):
            rng = np.random.default_rng([self.config.seed, 1_000 + n])
            for c, f, v in _draw_combinations(
                [(len(fs), len(vs)) for fs, vs in zip(face_pool, voice_pool, strict=True)],
                self.config.impostor_attempts,
                rng,
            ):
                out.append(Attempt.of(c, face_pool[c][f], voice_pool[c][v], kind))
        return out

    def halves(self) -> tuple[ChimericDataset, ChimericDataset]:
        """Two identity- and speaker-disjoint halves: speakers alternate in sorted order."""
        speakers = sorted({u.speaker for u in self.users})
        first = set(speakers[0::2])
        return (
            self.model_copy(
                update={"users": tuple(u for u in self.users if u.speaker in first), "fold": "A"}
            ),
            self.model_copy(
                update={
                    "users": tuple(u for u in self.users if u.speaker not in first),
                    "fold": "B",
                }
            ),
        )

    def utterances(self) -> dict[str, Utterance]:
        return {u.key: u for user in self.users for u in (*user.voice_enrol, *user.challenges)}

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description of how the users were formed (for ``eval.json``)."""
        return {
            "root": str(self.root),
            "fold": self.fold,
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
            "identities": len(self.users),
            "speakers_used": len({u.speaker for u in self.users}),
            "excluded_identities": list(self.excluded_identities),
            "excluded_speakers": list(self.excluded_speakers),
            "users_with_fewer_challenges": sum(
                len(u.challenges) < self.config.challenges_per_user for u in self.users
            ),
            "speakers": sorted({u.speaker for u in self.users}),
            "config": self.config.model_dump(),
            "pairing": (
                "chimeric: face identities in sorted order, speakers dealt round-robin in sorted "
                "order; a speaker's enrolment and challenges are drawn once and shared by its "
                "users, who are never compared by voice nor paired as impostors; impostor "
                "attempts are drawn (seeded) from every cross-pairing of other people's faces "
                "and voices"
            ),
        }


def _draw_combinations(
    sizes: list[tuple[int, int]], n: int, rng: np.random.Generator
) -> list[tuple[int, int, int]]:
    """Up to ``n`` distinct (owner, a, b) with ``a < sizes[owner][0]``, ``b < sizes[owner][1]``,
    uniformly without replacement over all combinations, in a stable order."""
    counts = np.array([a * b for a, b in sizes], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return []
    picked = np.sort(rng.choice(total, size=min(n, total), replace=False))
    ends = np.cumsum(counts)
    owners = np.searchsorted(ends, picked, side="right")
    out = []
    for index, owner in zip(picked.tolist(), owners.tolist(), strict=True):
        offset = index - int(ends[owner] - counts[owner])
        out.append((owner, offset // sizes[owner][1], offset % sizes[owner][1]))
    return out


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


class _OutOfClips(DatasetError):
    """A speaker has no clip left for the utterance asked for."""


class _ClipPool:
    """A speaker's clips, drawn without replacement in a seeded order."""

    def __init__(self, clips: dict[int, list[Path]], rng: np.random.Generator) -> None:
        self._rng = rng
        self._deck: list[int] = []
        self._pool = {
            d: [clips[d][i] for i in rng.permutation(len(clips[d]))] for d in sorted(clips)
        }

    def draw(self, n_digits: int, key: str, *, cover: bool = False) -> Utterance:
        """``n_digits`` clips; random digits, or with ``cover`` cycling through all digits.

        Challenges are random digits, as a login would ask. Enrolment uses ``cover`` — like a
        "say 0 to 9" prompt — so the template hears every digit rather than repeats of a few.
        Raises :class:`_OutOfClips` without taking any clip when there are too few left.
        """
        if sum(len(left) for left in self._pool.values()) < n_digits:
            raise _OutOfClips(f"not enough voice clips for {key}")
        digits: list[int] = []
        clips: list[Path] = []
        for _ in range(n_digits):
            available = [d for d, left in self._pool.items() if left]
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


def _speaker_material(
    speaker: str, clips: dict[int, list[Path]], config: DatasetConfig, rng: np.random.Generator
) -> tuple[tuple[Utterance, ...], tuple[Utterance, ...]]:
    """A speaker's enrolment and challenges (as many as its clips allow); empty enrolment or
    no challenge when it has too few clips."""
    pool = _ClipPool(clips, rng)
    try:
        enrol = tuple(
            pool.draw(config.digits_per_enrol_utterance, f"{speaker}/enrol{j}", cover=True)
            for j in range(config.enrol_utterances)
        )
    except _OutOfClips:
        return (), ()
    challenges: list[Utterance] = []
    for j in range(config.challenges_per_user):
        try:
            challenges.append(pool.draw(config.digits_per_challenge, f"{speaker}/challenge{j}"))
        except _OutOfClips:
            break
    return enrol, tuple(challenges)


_LANGUAGE_NAMES = {
    "english": Language.EN,
    "french": Language.FR,
    "arabic": Language.AR,
    "azerbaijani": Language.AZ,
}


def read_languages(root: Path) -> dict[str, Language]:
    """Speaker -> language, from ``voices/speakers.csv`` where the set has one (else English)."""
    table = root / "voices" / "speakers.csv"
    if not table.is_file():
        return {}
    languages: dict[str, Language] = {}
    with table.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = (row.get("language") or "").strip()
            if name.lower() not in _LANGUAGE_NAMES:
                raise DatasetError(
                    f"{table}: speaker {row.get('speaker')} speaks {name!r}, not one of "
                    f"{', '.join(sorted(_LANGUAGE_NAMES))}"
                )
            languages[row["speaker"]] = _LANGUAGE_NAMES[name.lower()]
    return languages


def load_dataset(root: Path, config: DatasetConfig | None = None) -> ChimericDataset:
    """Build the chimeric users from ``root``; raise :class:`DatasetError` on a bad layout.

    Identities and speakers with too little material are left out and listed, not an error;
    too few usable ones (fewer than 2 of either) is.
    """
    config = config or DatasetConfig()
    faces = read_faces(root)
    voices = read_voices(root)
    languages = read_languages(root)

    identities = sorted(faces)
    excluded = tuple(i for i in identities if len(faces[i]) < 2)
    usable = [i for i in identities if i not in excluded]
    if config.max_users is not None:
        usable = usable[: config.max_users]
    material = {
        speaker: _speaker_material(
            speaker, voices[speaker], config, np.random.default_rng([config.seed, n])
        )
        for n, speaker in enumerate(sorted(voices))
    }
    excluded_speakers = tuple(s for s, (_, challenges) in material.items() if not challenges)
    speakers = [s for s in material if s not in excluded_speakers]
    if len(usable) < 2 or len(speakers) < 2:
        raise DatasetError(
            f"{root}: need at least 2 face identities with 2+ photos and 2 speakers with enough "
            f"clips, found {len(usable)} and {len(speakers)}"
        )

    users: list[ChimericUser] = []
    for i, identity in enumerate(usable):
        speaker = speakers[i % len(speakers)]
        photos = faces[identity]
        n_enrol = min(config.face_enrol, len(photos) - 1)
        voice_enrol, challenges = material[speaker]
        users.append(
            ChimericUser(
                user_id=f"user{i + 1:02d}",
                face_identity=identity,
                speaker=speaker,
                face_enrol=tuple(photos[:n_enrol]),
                face_probes=tuple(photos[n_enrol:]),
                voice_enrol=voice_enrol,
                challenges=challenges,
                language=languages.get(speaker, Language.EN),
            )
        )
    return ChimericDataset(
        root=root,
        config=config,
        users=tuple(users),
        excluded_identities=excluded,
        excluded_speakers=excluded_speakers,
    )
