"""Chimeric users and trials, on a small synthetic data folder and on the test data set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from core.biometrics.dataset import (
    DEFAULT_DATA_DIR,
    AttemptKind,
    DatasetConfig,
    DatasetError,
    TrialKind,
    load_dataset,
    read_voices,
)
from schemas.enums import Language

# identity -> number of photos; "solo" has one photo and cannot be a user.
PHOTOS = {"ann": 4, "bob": 2, "cat": 3, "dan": 5, "solo": 1}
SPEAKERS = ("zed", "amy")  # sorted: amy, zed


def _make_data(root: Path, clips_per_digit: int = 10) -> Path:
    faces, voices = root / "faces", root / "voices"
    faces.mkdir(parents=True)
    voices.mkdir()
    rows, n = ["file,identity"], 0
    for identity, count in PHOTOS.items():
        for _ in range(count):
            n += 1
            (faces / f"img{n}.jpg").write_bytes(b"jpeg")
            rows.append(f"img{n}.jpg,{identity}")
    (faces / "identities.csv").write_text("\n".join(rows) + "\n")
    for speaker in SPEAKERS:
        for digit in range(10):
            for index in range(clips_per_digit):
                (voices / f"{digit}_{speaker}_{index}.wav").write_bytes(b"wav")
    (voices / "README.txt").write_text("not a clip")
    return root


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _make_data(tmp_path / "data")


def test_users_pair_sorted_identities_with_round_robin_speakers(data: Path) -> None:
    ds = load_dataset(data)
    assert [(u.user_id, u.face_identity, u.speaker) for u in ds.users] == [
        ("user01", "ann", "amy"),
        ("user02", "bob", "zed"),
        ("user03", "cat", "amy"),
        ("user04", "dan", "zed"),
    ]
    assert ds.excluded_identities == ("solo",)


def test_face_enrolment_policy_keeps_a_probe(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(face_enrol=3))
    sizes = {u.face_identity: (len(u.face_enrol), len(u.face_probes)) for u in ds.users}
    assert sizes == {"ann": (3, 1), "bob": (1, 1), "cat": (2, 1), "dan": (3, 2)}
    # Natural order: img10 comes after img9, and enrolment takes the first photos.
    dan = ds.users[3]
    assert [p.name for p in (*dan.face_enrol, *dan.face_probes)] == [
        "img10.jpg", "img11.jpg", "img12.jpg", "img13.jpg", "img14.jpg"
    ]  # fmt: skip


def test_no_clip_or_photo_is_used_twice(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(challenges_per_user=6))
    speakers = {u.speaker: u for u in ds.users}
    clips = [
        c for u in speakers.values() for utt in (*u.voice_enrol, *u.challenges) for c in utt.clips
    ]
    assert len(clips) == len(set(clips))
    photos = [p for u in ds.users for p in (*u.face_enrol, *u.face_probes)]
    assert len(photos) == len(set(photos))
    for user in ds.users:
        # A speaker's material is drawn once and shared by its users.
        assert user.challenges == speakers[user.speaker].challenges
        assert all(c.name.split("_")[1] == user.speaker for u in user.challenges for c in u.clips)
        for utt in (*user.voice_enrol, *user.challenges):
            assert [int(c.name[0]) for c in utt.clips] == list(utt.digits)


def test_utterance_sizes_and_enrolment_covers_the_digits(data: Path) -> None:
    config = DatasetConfig(enrol_utterances=2, digits_per_enrol_utterance=5, challenges_per_user=4)
    user = load_dataset(data, config).users[0]
    assert [len(u.digits) for u in user.voice_enrol] == [5, 5]
    assert sorted(d for u in user.voice_enrol for d in u.digits) == list(range(10))
    assert [len(u.digits) for u in user.challenges] == [3, 3, 3, 3]
    assert user.challenges[0].key == "amy/challenge0"
    assert user.challenges[0].text == "".join(str(d) for d in user.challenges[0].digits)


def test_seeded_and_deterministic(data: Path) -> None:
    assert load_dataset(data) == load_dataset(data)
    assert load_dataset(data).users != load_dataset(data, DatasetConfig(seed=1)).users
    assert load_dataset(data).attempts() == load_dataset(data).attempts()


def test_same_speaker_users_are_never_voice_impostors(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(challenges_per_user=2))
    voice = ds.voice_trials()
    assert all(t.source == t.claimed for t in voice if t.kind is TrialKind.GENUINE)
    assert all(not ds.same_voice(t.source, t.claimed) for t in voice if t.kind != "genuine")
    # Made once per speaker (users 0 and 1 stand for amy and zed): 2 x 2 challenges.
    assert {t.claimed for t in voice} == {0, 1} and ds.voice_owner(3) == 1
    assert Counter(t.kind for t in voice) == {TrialKind.GENUINE: 4, TrialKind.IMPOSTOR: 4}
    face = ds.face_trials()
    # 5 probes against 4 templates.
    assert Counter(t.kind for t in face) == {TrialKind.GENUINE: 5, TrialKind.IMPOSTOR: 15}


def test_attempts(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(challenges_per_user=2))
    attempts = ds.attempts()
    counts = Counter(a.kind for a in attempts)
    # Probes: ann 1, bob 1, cat 1, dan 2 (5 in all); each speaker has 2 challenges.
    assert counts == {
        AttemptKind.GENUINE: 4 * 2,
        AttemptKind.IMPOSTOR_FACE: (4 * 5 - 5) * 2,  # any other face, the victim's voice
        AttemptKind.IMPOSTOR_BOTH: (4 * 5 - 5) * 2,  # any other face, the other speaker's
        AttemptKind.IMPOSTOR_VOICE: 5 * 2,  # the victim's face, the other speaker's voice
    }
    for a in attempts:
        face_own = a.face_source == a.claimed
        voice_own = a.voice_source == ds.voice_owner(a.claimed)
        expected = {
            (True, True): AttemptKind.GENUINE,
            (False, True): AttemptKind.IMPOSTOR_FACE,
            (False, False): AttemptKind.IMPOSTOR_BOTH,
            (True, False): AttemptKind.IMPOSTOR_VOICE,
        }[(face_own, voice_own)]
        assert a.kind is expected
        if not voice_own:
            assert not ds.same_voice(a.voice_source, a.claimed)
    # Attempt k uses face probe k mod n_probes: ann has one probe, used by both attempts.
    genuine = [a for a in attempts if a.kind is AttemptKind.GENUINE and a.claimed == 0]
    assert len({a.face_probe for a in genuine}) == 1
    assert len({a.voice_probe for a in genuine}) == 2


def test_impostor_attempts_are_a_seeded_sample_without_repeats(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(challenges_per_user=2, impostor_attempts=7))
    attempts = ds.attempts()
    impostors = [a for a in attempts if a.kind is AttemptKind.IMPOSTOR_BOTH]
    assert len(impostors) == 7 and len(set(impostors)) == 7
    other_seed = load_dataset(
        data, DatasetConfig(challenges_per_user=2, impostor_attempts=7, seed=3)
    )
    assert other_seed.attempts() != attempts


def test_halves_share_no_identity_and_no_speaker(data: Path) -> None:
    first, second = load_dataset(data).halves()
    assert {u.speaker for u in first.users} == {"amy"}
    assert {u.speaker for u in second.users} == {"zed"}
    assert not {u.face_identity for u in first.users} & {u.face_identity for u in second.users}
    assert (first.fold, second.fold) == ("A", "B")


def test_max_users(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(max_users=2))
    assert [u.face_identity for u in ds.users] == ["ann", "bob"]
    assert ds.describe()["speakers"] == ["amy", "zed"]


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset(tmp_path / "nowhere")
    data = _make_data(tmp_path / "bad")
    (data / "faces" / "identities.csv").write_text("file,identity\n../../etc/passwd,ann\n")
    with pytest.raises(DatasetError, match="not a photo there"):
        load_dataset(data)
    (data / "faces" / "identities.csv").write_text("name,who\n")
    with pytest.raises(DatasetError, match="columns"):
        load_dataset(data)


def test_a_speaker_with_few_clips_gets_fewer_challenges_or_is_left_out(tmp_path: Path) -> None:
    data = _make_data(tmp_path / "small", clips_per_digit=2)
    for digit, index in ((d, i) for d in range(10) for i in range(2)):
        (data / "voices" / f"{digit}_bea_{index}.wav").write_bytes(b"wav")
    for clip in (data / "voices").glob("*_zed_*.wav"):
        if clip.name[0] in "0123456":  # zed keeps 6 clips: fewer than an enrolment
            clip.unlink()
    ds = load_dataset(data, DatasetConfig(challenges_per_user=20))
    # amy and bea: 20 clips, 12 enrolled, 2 challenges of 3 digits, then out of clips.
    assert [(u.speaker, len(u.challenges)) for u in ds.users] == [
        ("amy", 2), ("bea", 2), ("amy", 2), ("bea", 2)
    ]  # fmt: skip
    assert ds.excluded_speakers == ("zed",)
    assert ds.describe()["users_with_fewer_challenges"] == 4
    for clip in (data / "voices").glob("*_amy_*.wav"):
        clip.unlink()
    with pytest.raises(DatasetError, match="2 speakers with enough clips"):
        load_dataset(data)


def test_the_vendored_data_set_fits_the_default_configuration() -> None:
    """``tests/data`` is what its README says, and ``kibalock eval``'s defaults fit in it."""
    ds = load_dataset(DEFAULT_DATA_DIR)
    assert [u.face_identity for u in ds.users] == [f"face0{i}" for i in range(1, 9)]
    assert ds.excluded_identities == ()
    assert ds.excluded_speakers == ()
    assert Counter(u.speaker for u in ds.users) == dict.fromkeys(
        ("george", "jackson", "lucas", "nicolas"), 2
    )
    assert [len(u.face_probes) for u in ds.users] == [5, 5, 4, 3, 2, 2, 2, 1]
    clips = read_voices(DEFAULT_DATA_DIR)
    assert {len(per_digit) for digits in clips.values() for per_digit in digits.values()} == {10}
    assert all(sorted(digits) == list(range(10)) for digits in clips.values())
    licences = {p.name for p in DEFAULT_DATA_DIR.glob("*/LICENSE*")}
    assert licences == {"LICENSE.deepface", "LICENSE.CC-BY-SA-4.0.txt"}
    size = sum(p.stat().st_size for p in DEFAULT_DATA_DIR.rglob("*") if p.is_file())
    assert size < 8_000_000, "tests/data is meant to stay a few MB"


def test_each_speaker_is_heard_in_the_language_speakers_csv_gives(data: Path) -> None:
    # The data-large layout: voices/speakers.csv names each speaker's language.
    table = ["speaker,language", "amy,Arabic", "zed,Azerbaijani"]
    (data / "voices" / "speakers.csv").write_text("\n".join(table) + "\n")
    by_speaker = {u.speaker: u.language for u in load_dataset(data).users}
    assert by_speaker == {"amy": Language.AR, "zed": Language.AZ}
    (data / "voices" / "speakers.csv").write_text("speaker,language\namy,Klingon\n")
    with pytest.raises(DatasetError, match="Klingon"):
        load_dataset(data)


def test_a_set_without_speakers_csv_speaks_english(data: Path) -> None:
    assert {u.language for u in load_dataset(data).users} == {Language.EN}
