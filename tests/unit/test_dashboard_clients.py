"""The dashboard's edges that need no service: upload names made safe, LifeModo's client
refusing a job id that would change its URL, and the ``streamlit run`` command line."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from core.settings import Settings
from dashboard.launch import APP, streamlit_command
from dashboard.trainer_api import TrainerApi, TrainerError, trainer_url
from dashboard.uploads import accepted_types, safe_names


def test_upload_names_lose_folders_odd_characters_and_clashes() -> None:
    names = [
        "../../etc/passwd",
        "C:\\Users\\me\\face 1.JPG",
        "face_1.jpg",
        ".hidden.wav",
        "résumé (final).pdf",
        "",
        "face_1.JPG",
    ]
    assert safe_names(names) == [
        "passwd",
        "face_1.JPG",
        "face_1-2.jpg",
        "hidden.wav",
        "r_sum_final_.pdf",
        "upload",
        "face_1-3.JPG",
    ]


def test_the_uploader_takes_what_the_import_reads() -> None:
    assert {"jpg", "jpeg", "png", "webp", "wav", "flac", "ogg", "pdf"} == set(accepted_types())


def test_a_job_id_that_is_not_an_id_never_reaches_the_url() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"called {request.url}")

    client = TrainerApi("http://t", SecretStr("k"), transport=httpx.MockTransport(api))
    with pytest.raises(TrainerError) as refused:
        client.job_status("../healthz")
    assert refused.value.code == "invalid_job_id"


def test_the_trainer_url_defaults_to_the_trainer_section() -> None:
    settings = Settings(trainer={"host": "10.0.0.5", "port": 9001})
    assert trainer_url(settings) == "http://10.0.0.5:9001"
    moved = Settings(dashboard={"trainer_url": "https://lifemodo.internal"})
    assert trainer_url(moved) == "https://lifemodo.internal"
    with pytest.raises(ValueError, match="trainer_url"):
        Settings(dashboard={"trainer_url": "file:///etc/passwd"})


def test_streamlit_runs_the_app_headless_offline_on_the_configured_address() -> None:
    command = streamlit_command(Settings(dashboard={"host": "127.0.0.1", "port": 8765}))
    assert command[1:5] == ["-m", "streamlit", "run", str(APP)]
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8765"
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert APP.is_file()
