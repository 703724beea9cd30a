"""What the pages read and call, behind one interface: the live feed, the stores, LifeModo's
import and its REST API. :class:`LiveBackend` is the real one, built once per Streamlit process;
tests hand the pages another.

The feed's consumer, the MongoDB client and the imports run on one event loop in a background
thread; the pages, which Streamlit runs in a thread per session, wait for their results there.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import SecretStr
from pymongo.errors import PyMongoError

from core.settings import Settings
from dashboard.feed_state import FeedSnapshot, FeedState
from dashboard.live_feed import LiveFeed
from dashboard.stores import StoreFigures, Stores
from dashboard.trainer_api import TrainerApi, trainer_url
from dashboard.uploads import Upload, import_uploads

if TYPE_CHECKING:
    from trainer.importer import ImportOutcome

T = TypeVar("T")
STORE_TIMEOUT_S = 5.0


class StoreUnavailable(RuntimeError):
    """MongoDB did not answer in time; the page shows what the feed has and says so."""


class Backend(Protocol):
    admin_key: SecretStr | None
    refresh_s: float
    max_upload_mb: int
    trainer: TrainerApi

    def feed(self) -> FeedSnapshot: ...

    def store_figures(self) -> StoreFigures: ...

    def import_uploads(
        self, uploads: list[Upload], *, user_id: str | None, source: str | None
    ) -> ImportOutcome: ...


class LiveBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin_key = settings.gateway.admin_key()
        self.refresh_s = settings.dashboard.refresh_s
        self.max_upload_mb = settings.dashboard.max_upload_mb
        # The admin key is the dashboard's only way in, so it is always set past the login.
        self.trainer = TrainerApi(trainer_url(settings), self.admin_key or SecretStr(""))
        self.state = FeedState(settings.dashboard.history)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="dashboard-io", daemon=True
        )
        self._thread.start()
        self._feed = LiveFeed(settings, self.state)
        self._feed_task = asyncio.run_coroutine_threadsafe(self._feed.run(), self._loop)
        self._stores = Stores(settings)
        self._figures_lock = threading.Lock()
        self._figures: tuple[float, StoreFigures] | None = None
        # The import pulls in the biometric engines (seconds): load them before the first upload.
        threading.Thread(
            target=importlib.import_module, args=("trainer.importer",), daemon=True
        ).start()

    def feed(self) -> FeedSnapshot:
        return self.state.snapshot()

    def store_figures(self) -> StoreFigures:
        """The registry and user count, read again at most every ``refresh_s``."""
        with self._figures_lock:
            now = time.monotonic()
            if self._figures is None or now - self._figures[0] >= self.refresh_s:
                try:
                    figures = self._wait(self._stores.figures(), STORE_TIMEOUT_S)
                except (FutureTimeout, PyMongoError) as exc:
                    raise StoreUnavailable(f"MongoDB did not answer: {exc!r}") from exc
                self._figures = (now, figures)
            return self._figures[1]

    def import_uploads(
        self, uploads: list[Upload], *, user_id: str | None, source: str | None
    ) -> ImportOutcome:
        return self._wait(
            import_uploads(self.settings, uploads, user_id=user_id, source=source), None
        )

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._feed.stop)
        self._feed_task.result(timeout=10)
        self._wait(self._stores.close(), 10)
        self.trainer.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _wait(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
