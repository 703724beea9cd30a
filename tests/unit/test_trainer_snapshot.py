"""The dataset snapshot (trainer/dataset.py): what it keeps, and a digest that names the data."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

from schemas.model_catalog import FACE_EMBEDDER, VOICE_EMBEDDER, Modality
from trainer.dataset import Dated, SnapshotItem, build_snapshot, modality_of, snapshot_digest
from trainer.features import ENROLMENT

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def item(
    user: str | None, key: str, *, modality: Modality = Modality.VOICE, condition: str = "t1"
) -> SnapshotItem:
    return SnapshotItem(
        bucket="samples" if condition == ENROLMENT else "training",
        key=key,
        sha256=hashlib.sha256(key.encode()).hexdigest(),
        user_id=user,
        modality=modality,
        condition=condition,
        origin="enrolment" if condition == ENROLMENT else "accepted",
    )


def test_the_digest_names_the_data_not_the_order_it_was_found_in() -> None:
    items = [item("a", f"a/{k}/voice.wav") for k in range(5)] + [item("b", "b/x/voice.wav")]
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert snapshot_digest(items) == snapshot_digest(shuffled)
    changed = [*items[:-1], items[-1].model_copy(update={"sha256": "0" * 64})]
    assert snapshot_digest(changed) != snapshot_digest(items)
    relabelled = [*items[:-1], items[-1].model_copy(update={"condition": "t2"})]
    assert snapshot_digest(relabelled) != snapshot_digest(items)


def test_the_snapshot_keeps_one_modality_labelled_items_and_the_newest_per_user() -> None:
    candidates = [
        *(Dated(item("a", f"a/{k}/voice.wav"), T0 + timedelta(hours=k)) for k in range(5)),
        *(Dated(item("a", f"a/enrol/voice/{k}", condition=ENROLMENT), T0) for k in range(3)),
        Dated(item("b", "b/s/voice.wav")),
        Dated(item("b", "b/s/face.jpg", modality=Modality.FACE)),
        Dated(item(None, "imported/x/voice.wav")),
    ]
    snapshot = build_snapshot(Modality.VOICE, candidates, max_per_user=2)
    keys = [i.key for i in snapshot.items]
    assert [(i.bucket, i.key) for i in snapshot.items] == sorted(
        (i.bucket, i.key) for i in snapshot.items
    )
    assert keys == [
        "a/enrol/voice/0",
        "a/enrol/voice/1",
        "a/enrol/voice/2",
        "a/3/voice.wav",  # the two newest curated samples of a
        "a/4/voice.wav",
        "b/s/voice.wav",
    ]
    assert snapshot.excluded == {"over_max_samples_per_user": 3, "unlabelled": 1}
    assert snapshot.users == ("a", "b")
    assert snapshot.digest == snapshot_digest(snapshot.items)
    again = build_snapshot(Modality.VOICE, list(reversed(candidates)), max_per_user=2)
    assert again.digest == snapshot.digest


def test_a_model_trains_on_its_modality() -> None:
    assert modality_of(FACE_EMBEDDER) is Modality.FACE
    assert modality_of(VOICE_EMBEDDER) is Modality.VOICE
