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
    clips = [c for u in ds.users for utt in (*u.voice_enrol, *u.challenges) for c in utt.clips]
    assert len(clips) == len(set(clips))
    photos = [p for u in ds.users for p in (*u.face_enrol, *u.face_probes)]
    assert len(photos) == len(set(photos))
    for user in ds.users:
        assert all(c.name.split("_")[1] == user.speaker for u in user.challenges for c in u.clips)
        for utt in (*user.voice_enrol, *user.challenges):
            assert [int(c.name[0]) for c in utt.clips] == list(utt.digits)


def test_utterance_sizes_and_enrolment_covers_the_digits(data: Path) -> None:
    config = DatasetConfig(enrol_utterances=2, digits_per_enrol_utterance=5, challenges_per_user=4)
    user = load_dataset(data, config).users[0]
    assert [len(u.digits) for u in user.voice_enrol] == [5, 5]
    assert sorted(d for u in user.voice_enrol for d in u.digits) == list(range(10))
    assert [len(u.digits) for u in user.challenges] == [3, 3, 3, 3]
    assert user.challenges[0].key == "user01/challenge0"
    assert user.challenges[0].text == "".join(str(d) for d in user.challenges[0].digits)


def test_seeded_and_deterministic(data: Path) -> None:
    assert load_dataset(data) == load_dataset(data)
    assert load_dataset(data).users != load_dataset(data, DatasetConfig(seed=1)).users


def test_same_speaker_users_are_never_voice_impostors(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(challenges_per_user=2))
    voice = ds.voice_trials()
    assert all(t.source == t.claimed for t in voice if t.kind is TrialKind.GENUINE)
    assert all(not ds.same_voice(t.source, t.claimed) for t in voice if t.kind != "genuine")
    # 4 users x 2 challenges: 8 genuine; each challenge meets the 2 users of the other speaker.
    assert Counter(t.kind for t in voice) == {TrialKind.GENUINE: 8, TrialKind.IMPOSTOR: 16}
    face = ds.face_trials()
    # 5 probes against 4 templates.
    assert Counter(t.kind for t in face) == {TrialKind.GENUINE: 5, TrialKind.IMPOSTOR: 15}


def test_attempts(data: Path) -> None:
    ds = load_dataset(data, DatasetConfig(challenges_per_user=2))
    attempts = ds.attempts()
    counts = Counter(a.kind for a in attempts)
    assert counts == {
        AttemptKind.GENUINE: 8,
        AttemptKind.IMPOSTOR_FACE: 4 * 3 * 2,  # every other user's face
        AttemptKind.IMPOSTOR_BOTH: 4 * 2 * 2,  # only users with another speaker
        AttemptKind.IMPOSTOR_VOICE: 4 * 2 * 2,
    }
    for a in attempts:
        face_own, voice_own = a.face_source == a.claimed, a.voice_source == a.claimed
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


def test_running_out_of_clips_is_a_clear_error(tmp_path: Path) -> None:
    data = _make_data(tmp_path / "small", clips_per_digit=2)
    with pytest.raises(DatasetError, match="not enough voice clips"):
        load_dataset(data, DatasetConfig(challenges_per_user=20))


def test_the_vendored_data_set_fits_the_default_configuration() -> None:
    """``tests/data`` is what its README says, and ``kibalock eval``'s defaults fit in it."""
    ds = load_dataset(DEFAULT_DATA_DIR)
    assert [u.face_identity for u in ds.users] == [f"face0{i}" for i in range(1, 9)]
    assert ds.excluded_identities == ()
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
