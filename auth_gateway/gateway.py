"""The gateway's state: its stores, engines and models, built once by
:func:`auth_gateway.bootstrap.bootstrap` and handed to the handlers
(:mod:`auth_gateway.handlers`) with each message.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from auth_gateway import challenges, erasure, lockouts, replay
from auth_gateway.analysis import Analyser
from auth_gateway.capture import SampleCapture
from auth_gateway.challenges import ChallengeStore
from auth_gateway.decision_log import DecisionLog
from auth_gateway.enrolment import Enroller
from auth_gateway.hotswap import HotSwapper
from auth_gateway.lockouts import LockoutBook
from auth_gateway.personal_models import PersonalModels
from auth_gateway.recent_probes import RecentProbes
from auth_gateway.replay import ReplayGuard
from auth_gateway.sessions import SESSION_INDEXES, SessionStore, forget_plaintext_sessions
from auth_gateway.templates import TemplateStore
from auth_gateway.terminal_auth import TerminalAuth
from auth_gateway.throttle import Throttle
from auth_gateway.verifier import Verifier
from core import docstore
from core.bus import EventProducer
from core.http.ops import probe_stores
from core.objectstore import ObjectStore
from core.settings import Settings

# The collections only the gateway uses: created at start, not by ``kibalock stack up``.
PRIVATE_INDEXES = [*challenges.INDEXES, *SESSION_INDEXES, replay.INDEX, lockouts.INDEX]
# Everything the gateway indexes (and, where the server has no TTL indexes, purges).
GATEWAY_INDEXES = [*docstore.INDEXES, *PRIVATE_INDEXES]


@dataclass(eq=False)
class Gateway:
    settings: Settings
    client: docstore.Client
    db: docstore.Database
    objects: ObjectStore
    producer: EventProducer
    analyser: Analyser
    admin_key: SecretStr | None
    terminals: TerminalAuth
    templates: TemplateStore
    recent: RecentProbes
    challenges: ChallengeStore
    replay: ReplayGuard
    lockouts: LockoutBook
    throttle: Throttle
    sessions: SessionStore
    decisions: DecisionLog
    capture: SampleCapture
    swapper: HotSwapper
    personal: PersonalModels
    enroller: Enroller
    verifier: Verifier

    async def prepare(self) -> None:
        """Indexes and buckets exist, and the registry's active models are loaded (or the
        offline defaults), before the first attempt (idempotent)."""
        await forget_plaintext_sessions(self.db)
        await docstore.ensure_indexes(self.db, GATEWAY_INDEXES)
        await self.objects.ensure_buckets()
        await self.swapper.start()

    async def close(self) -> None:
        await self.client.close()

    async def probe(self) -> dict[str, str]:
        """Whether the document store and the object store answer: ``ok`` or ``error: …``."""
        return await probe_stores(lambda: self.db.command("ping"), self.objects.list_buckets)

    async def erase_user(self, user_id: str) -> dict[str, int]:
        """The right to erasure, over every store that keeps something of ``user_id``."""
        stores: list[erasure.Erasable] = [
            self.templates,
            self.recent,
            self.enroller,
            self.sessions,
            self.challenges,
            self.replay,
            self.lockouts,
            self.throttle,
            self.capture,
            self.personal,
        ]
        removed = await erasure.erase_user(
            user_id,
            db=self.db,
            objects=self.objects,
            decisions=self.decisions,
            stores=stores,
            pseudonym=self.templates.pseudonym,
        )
        # security.lockouts is compacted: without a tombstone its last record for this user
        # would keep their id for ever, and the processors' per-user state with it.
        await self.producer.publish_raw("security.lockouts", None, key=user_id.encode())
        return removed
