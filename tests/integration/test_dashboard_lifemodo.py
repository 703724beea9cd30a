"""The LifeModo page on the real stack, through Streamlit's AppTest and the real backend: photos
and a recording uploaded for a user land in the training bucket as one LifeModo import (the
function ``kibalock trainer import`` runs), then a retrain requested from the page reaches a
real trainer's REST API and the page follows its job to the published version.

The trainer here trains the small :class:`~tests.integration.trainer_kit.RotationTrainer`; the
page and the API are what is tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from core import docstore
from core.objectstore import ObjectStore
from core.settings import Settings
from core.signing import generate_keypair
from dashboard.backend import LiveBackend
from devstack.process import free_port
from tests.dashboard_kit import API_KEY
from tests.dashboard_scripts import lifemodo_script
from tests.integration.trainer_kit import Script, eventually, registry_for, trainer_settings
from tests.stack_kit import namespaced, with_gateway_keys
from trainer.bootstrap import TrainerRuntime, bootstrap
from trainer.http import create_app
from trainer.importer import Importer

pytestmark = pytest.mark.integration


@pytest.fixture
async def trainer(base_settings: Settings) -> AsyncIterator[tuple[TrainerRuntime, Settings]]:
    """A trainer's REST API on a free port (its worker left idle: the test runs the job)."""
    private, _public = generate_keypair()
    settings = trainer_settings(with_gateway_keys(namespaced(base_settings, "l"), API_KEY), private)
    port = free_port()
    runtime = await bootstrap(settings, trainers=registry_for(Script()), owner="trainer-dash")
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())

    async def listening() -> bool | None:
        return server.started or None

    await eventually(listening, timeout_s=30, every_s=0.05)
    options = settings.dashboard.model_copy(update={"trainer_url": f"http://127.0.0.1:{port}"})
    try:
        yield runtime, settings.model_copy(update={"dashboard": options})
    finally:
        server.should_exit = True
        await serving
        await runtime.close()


async def test_upload_then_retrain_then_follow_the_job(
    trainer: tuple[TrainerRuntime, Settings], data_dir: Path
) -> None:
    runtime, settings = trainer
    backend = await asyncio.to_thread(LiveBackend, settings)
    at = AppTest.from_function(lifemodo_script, args=(backend,), default_timeout=120)

    async def run() -> None:
        # AppTest blocks its caller; the trainer's API answers on this event loop meanwhile.
        await asyncio.to_thread(at.run)
        assert not at.exception, at.exception

    try:
        await run()
        photo = (data_dir / "faces" / "img1.jpg").read_bytes()
        voice = (data_dir / "voices" / "0_george_0.wav").read_bytes()
        at.file_uploader[0].set_value(
            [("img1.jpg", photo, "image/jpeg"), ("george 0.wav", voice, "audio/wav")]
        )
        at.text_input[0].input("george")
        at.button[0].click()
        await run()
        assert "(george): 2 stored, 0 already there, 0 refused" in at.success[0].value

        client = docstore.client(settings)
        try:
            importer = Importer(client[settings.mongo.database], ObjectStore(settings))
            (record,) = await importer.records("george")
        finally:
            await client.close()
        assert [(f.source, f.kind.value) for f in record.files] == [
            ("george_0.wav", "audio"),
            ("img1.jpg", "image"),
        ]
        assert record.source == "dashboard" and record.path_name == "dashboard-upload"
        recording, image = record.files
        assert image.faces_found == 1 and image.face_boxes
        assert recording.duration_seconds and (recording.speech_seconds or 0) > 0
        objects = ObjectStore(settings)
        for file in record.files:
            assert await objects.get_bytes(file.media) in (photo, voice)

        at.selectbox[1].select("imported")
        at.text_input[2].input("")  # the shared model, not george's own
        at.button[1].click()
        await run()
        job_id = at.text_input(key="lifemodo_followed_job").value
        assert job_id
        assert f"Retrain queued: {job_id}" in at.success[-1].value
        assert {m.label: m.value for m in at.metric}["State"] == "queued"
        stored = await runtime.store.get(job_id)
        assert stored is not None and stored.request.source == "imported"

        claimed = await runtime.service.next_job()
        assert claimed is not None and claimed.job_id == job_id
        await runtime.service.run(claimed)
        await run()
        shown = {m.label: m.value for m in at.metric}
        assert shown["State"] == "succeeded" and shown["Version"] == "1.1.0"
        assert f"{job_id} · succeeded · done · 100.0%" == at.get("progress")[0].proto.text
    finally:
        await asyncio.to_thread(backend.close)
