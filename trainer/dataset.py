"""A job's dataset snapshot: which media it trains on, by object key and sha256, for lineage.

The snapshot of one modality takes the curated samples of the ``training`` bucket (captured by
the gateway, ``training_samples``), the enrolment media of enrolled users (``samples`` bucket,
``users.enrol_samples``) and any extra source (media imported by ``kibalock trainer import``).
Every user is taken even for a per-user job: other users' samples are its impostors. Items are
sorted and digested (sha256 of their canonical JSON), so the same data gives the same digest;
the snapshot is stored in ``training_snapshots`` under that digest and the job records it.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import Field

from core.docstore import Database, Document
from schemas import MediaRef, TrainingSampleCaptured
from schemas.fields import Identifier, Sha256Hex
from schemas.manifest import canonical_json
from schemas.model_catalog import Modality, model_spec
from schemas.values import ValueModel
from trainer.features import ENROLMENT

SNAPSHOTS = "training_snapshots"
TRAINING_BUCKET = "training"
SAMPLES_BUCKET = "samples"
ENROLMENT_ORIGIN = "enrolment"


class SnapshotItem(ValueModel):
    """One medium a job may train on. ``bucket`` is the logical bucket (``training``,
    ``samples``): the physical name depends on the deployment's prefix, the data does not."""

    bucket: str
    key: str
    sha256: Sha256Hex
    user_id: Identifier | None = Field(description="None: unlabelled (imported for nobody)")
    modality: Modality
    condition: str = Field(description="terminal id, 'enrolment', or an import's condition")
    origin: str = Field(description="accepted, feedback, enrolment, or an import's origin")


@dataclass(frozen=True)
class Dated:
    """A candidate item and when it was captured (None: unknown, treated as oldest)."""

    item: SnapshotItem
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("a capture time must carry its time zone")


@dataclass(frozen=True)
class Snapshot:
    modality: Modality
    items: tuple[SnapshotItem, ...]
    digest: str
    # Candidates left out and why (unlabelled, over max_samples_per_user).
    excluded: dict[str, int]

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(sorted({i.user_id for i in self.items if i.user_id is not None}))


def snapshot_digest(items: Sequence[SnapshotItem]) -> str:
    """sha256 of the canonical JSON of the sorted items: the same data, the same digest."""
    document = {"items": [i.model_dump(mode="json") for i in sorted(items, key=_order)]}
    return hashlib.sha256(canonical_json(document)).hexdigest()


def build_snapshot(
    modality: Modality, candidates: Sequence[Dated], *, max_per_user: int
) -> Snapshot:
    """Pure: the snapshot of ``candidates`` of ``modality``.

    Enrolment items are always kept; of the other items of a user, the newest ``max_per_user``.
    Unlabelled items are left out: every row a trainer sees needs an identity.
    """
    excluded: Counter[str] = Counter()
    per_user: defaultdict[str, list[Dated]] = defaultdict(list)
    kept: list[SnapshotItem] = []
    for candidate in candidates:
        item = candidate.item
        if item.modality != modality:
            continue
        if item.user_id is None:
            excluded["unlabelled"] += 1
        elif item.condition == ENROLMENT:
            kept.append(item)
        else:
            per_user[item.user_id].append(candidate)
    oldest = datetime.min.replace(tzinfo=UTC)
    for dated in per_user.values():
        dated.sort(key=lambda d: (d.at or oldest, _order(d.item)), reverse=True)
        kept.extend(d.item for d in dated[:max_per_user])
        excluded["over_max_samples_per_user"] += max(0, len(dated) - max_per_user)
    items = tuple(sorted(set(kept), key=_order))
    return Snapshot(
        modality=modality,
        items=items,
        digest=snapshot_digest(items),
        excluded={k: v for k, v in sorted(excluded.items()) if v},
    )


def _order(item: SnapshotItem) -> tuple[str, str]:
    return item.bucket, item.key


def modality_of(model: str) -> Modality:
    """The modality whose media a model of the catalog learns from."""
    return model_spec(model).modality


async def curated_items(db: Database, modality: Modality) -> list[Dated]:
    """The gateway's curated samples of ``modality`` (``training_samples``)."""
    dated = []
    async for doc in db["training_samples"].find({}, {"event": 1, "captured_at": 1}):
        event = TrainingSampleCaptured.model_validate_json(doc["event"])
        ref = event.face if modality is Modality.FACE else event.voice
        if ref is not None:
            item = media_item(
                ref, TRAINING_BUCKET, event.user_id, modality, event.terminal_id, event.origin.value
            )
            dated.append(Dated(item, doc.get("captured_at")))
    return dated


async def enrolment_items(db: Database, modality: Modality) -> list[Dated]:
    """The enrolment media of every enrolled user (``users.enrol_samples``)."""
    dated = []
    query = {"enrol_samples": {"$exists": True}}
    async for user in db["users"].find(query, {"user_id": 1, "enrol_samples": 1, "enrolled_at": 1}):
        for sample in user["enrol_samples"]:
            if sample["modality"] == modality.value:
                ref = MediaRef.model_validate(sample["ref"])
                item = media_item(
                    ref, SAMPLES_BUCKET, user["user_id"], modality, ENROLMENT, ENROLMENT_ORIGIN
                )
                dated.append(Dated(item, user.get("enrolled_at")))
    return dated


SOURCES = frozenset({"curated", "imported", "all"})
# Kinds of imported file each modality trains on (a PDF's pages are images; the PDF itself not).
_IMPORTED_KINDS = {Modality.FACE: {"image", "pdf_page"}, Modality.VOICE: {"audio"}}
IMPORTED = "imported"


async def imported_items(db: Database, modality: Modality) -> list[Dated]:
    """What ``kibalock trainer import`` stored (``training_imports``), labelled or not."""
    dated = []
    kinds = _IMPORTED_KINDS[modality]
    async for record in db["training_imports"].find(
        {}, {"user_id": 1, "files": 1, "finished_at": 1}
    ):
        for file in record.get("files", []):
            if file["kind"] in kinds:
                ref = MediaRef.model_validate(file["media"])
                item = media_item(
                    ref, TRAINING_BUCKET, record.get("user_id"), modality, IMPORTED, IMPORTED
                )
                dated.append(Dated(item, record.get("finished_at")))
    return dated


def media_item(
    ref: MediaRef,
    logical_bucket: str,
    user_id: str | None,
    modality: Modality,
    condition: str,
    origin: str,
) -> SnapshotItem:
    """The item of a stored medium (``ref``'s bucket is physical; ``logical_bucket`` names it
    without the deployment's prefix). Other sources (imports) make their items with it too."""
    return SnapshotItem(
        bucket=logical_bucket,
        key=ref.key,
        sha256=ref.sha256,
        user_id=user_id,
        modality=modality,
        condition=condition,
        origin=origin,
    )


async def take_snapshot(
    db: Database,
    model: str,
    *,
    max_per_user: int,
    source: str = "curated",
    extra: Sequence[SnapshotItem | Dated] = (),
) -> Snapshot:
    """The snapshot of the data a job of ``model`` trains on (not stored: see :func:`save`).

    ``source``: ``curated`` (the gateway's curated samples), ``imported`` (LifeModo imports) or
    ``all``; enrolment media always come too (they are the templates). ``extra``: items of
    another source, in its own key layout.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r} (known: {sorted(SOURCES)})")
    modality = modality_of(model)
    curated = await curated_items(db, modality) if source in ("curated", "all") else []
    imported = await imported_items(db, modality) if source in (IMPORTED, "all") else []
    candidates = [
        *curated,
        *imported,
        *await enrolment_items(db, modality),
        *(e if isinstance(e, Dated) else Dated(e) for e in extra),
    ]
    return build_snapshot(modality, candidates, max_per_user=max_per_user)


async def save(db: Database, snapshot: Snapshot, *, job_id: str) -> None:
    """Records the snapshot under its digest (once) and that ``job_id`` used it."""
    await db[SNAPSHOTS].update_one(
        {"_id": snapshot.digest},
        {
            "$setOnInsert": {
                "modality": snapshot.modality.value,
                "items": [i.model_dump(mode="json") for i in snapshot.items],
                "users": list(snapshot.users),
                "excluded": snapshot.excluded,
                "created_at": datetime.now(UTC),
            },
            "$addToSet": {"jobs": job_id},
        },
        upsert=True,
    )


async def load(db: Database, digest: str) -> Snapshot | None:
    """A stored snapshot, checked against its digest."""
    doc: Document | None = await db[SNAPSHOTS].find_one({"_id": digest})
    if doc is None:
        return None
    items = tuple(SnapshotItem.model_validate(i) for i in doc["items"])
    # An erasure took people's items out: the digest names the data as it was taken, which
    # can no longer be recomputed (auth_gateway/erasure.py).
    if not doc.get("erased_users") and snapshot_digest(items) != digest:
        raise ValueError(f"snapshot {digest} does not match its items")
    return Snapshot(
        modality=Modality(doc["modality"]), items=items, digest=digest, excluded=doc["excluded"]
    )


async def record_derived(db: Database, digest: str, *, job_id: str, counts: dict[str, int]) -> None:
    """Records what ``job_id`` derived from the snapshot (rows kept, rows skipped by reason):
    the raw media may be erased later (retention), this record stays."""
    await db[SNAPSHOTS].update_one(
        {"_id": digest},
        {"$push": {"derived": {"job_id": job_id, "at": datetime.now(UTC), "counts": counts}}},
    )
