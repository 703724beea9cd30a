"""A face detector goes through the one publish path: checked, signed, registered, announced."""

from __future__ import annotations

from core import docstore
from core.bus import EventProducer
from core.objectstore import ObjectStore
from core.registry import ModelRegistry, ModelStatus, describe, fetch_verified, publish
from core.settings import Settings
from schemas import ModelPublished, decode
from schemas.manifest import ParityCheck
from tests.integration.kafka_reader import read_topic
from tests.registry_kit import detector_graph, keys


async def test_a_detector_is_published_without_an_operating_point(
    topics: Settings, store: ObjectStore, producer: EventProducer
) -> None:
    signer, trust, _ = keys()
    data = detector_graph()
    parity = ParityCheck(framework="torch-2", samples=3, max_abs_diff=1e-4, tolerance=5e-3)
    manifest = describe(data, "face-detector", "1.1.0", parent_version="1.0.0").model_copy(
        update={"parity": parity}
    )
    event = await publish(topics, data, manifest, signer, by="tests", producer=producer)
    assert isinstance(event, ModelPublished) and event.model == "face-detector"

    verified = await fetch_verified(store, event, trust)
    assert verified.data == data
    assert verified.manifest.operating_point is None and verified.manifest.parity == parity
    client = docstore.client(topics)
    try:
        record = await ModelRegistry(client[topics.mongo.database], store).get(
            "face-detector", "1.1.0"
        )
        assert record is not None and record.status is ModelStatus.CANDIDATE
        await client.drop_database(topics.mongo.database)
    finally:
        await client.close()
    (published,) = await read_topic(topics, "models.published", at_least=1)
    assert decode("models.published", published.value, published.headers) == event
