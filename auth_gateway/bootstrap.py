"""The composition root: reads the settings once and wires the gateway's adapters together.

Nothing else in the gateway reads settings or picks an implementation; tests and the benchmark
get the same wiring with their own settings, policy or digit source.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable

from auth_gateway.analysis import Analyser
from auth_gateway.capture import SampleCapture
from auth_gateway.challenges import ChallengeStore
from auth_gateway.crypto import TemplateCipher, load_key
from auth_gateway.decision_log import DecisionLog
from auth_gateway.enrolment import Enroller
from auth_gateway.gateway import Gateway
from auth_gateway.hotswap import HotSwapper
from auth_gateway.lockouts import LockoutBook
from auth_gateway.personal_models import PersonalModels
from auth_gateway.recent_probes import RecentProbes
from auth_gateway.reembed import ReEmbedder
from auth_gateway.replay import ReplayGuard
from auth_gateway.sessions import SessionStore
from auth_gateway.templates import TemplateStore
from auth_gateway.terminal_auth import TerminalAuth
from auth_gateway.throttle import Throttle, rules_of
from auth_gateway.verifier import Verifier
from core import docstore
from core.biometrics.policy import DecisionPolicy, load_policy
from core.bus import EventProducer
from core.logging import get_logger
from core.objectstore import ObjectStore
from core.registry import ActiveModels, ModelRegistry
from core.settings import Settings

log = get_logger(__name__)


class SigningKeyOnGateway(RuntimeError):
    """A gateway verifies signatures; holding the key that makes them would let it forge one."""


def refuse_signing_key(settings: Settings) -> None:
    """Raises :class:`SigningKeyOnGateway` if this gateway was given the publisher's key."""
    if settings.models.publisher.configured:
        raise SigningKeyOnGateway(
            "a gateway never holds the publisher's signing key: unset "
            "KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY[_FILE] for the gateway (it needs only "
            "KIBALOCK_MODELS__TRUST__PUBLIC_KEYS[_FILE])"
        )


def bootstrap(
    settings: Settings,
    *,
    analyser: Analyser,
    producer: EventProducer,
    policy: DecisionPolicy | None = None,
    choose_digit: Callable[[str], str] = secrets.choice,
) -> Gateway:
    refuse_signing_key(settings)
    options, models = settings.gateway, settings.models
    policy = policy or load_policy()
    client = docstore.client(settings)
    db = client[settings.mongo.database]
    objects = ObjectStore(settings)
    cipher = TemplateCipher(load_key(options))
    templates = TemplateStore(db, cipher)
    recent = RecentProbes(db, cipher, keep=options.recent_probes_kept)
    challenges = ChallengeStore(
        db,
        digits=options.challenge_digits,
        ttl_s=options.challenge_ttl_s,
        per_terminal_minute=options.challenges_per_terminal_minute,
        choose=choose_digit,
    )
    replay, lockouts = ReplayGuard(db), LockoutBook(db)
    throttle = Throttle(db, *rules_of(options))
    trust = models.trust.keys(required=False)
    if options.follow_registry and not trust.ids:
        log.warning("no trusted model keys: serving offline defaults, refusing new models")
    personal = PersonalModels(db, objects, trust)
    swapper = HotSwapper(
        registry=ModelRegistry(db, objects),
        objects=objects,
        producer=producer,
        reembedder=ReEmbedder(db, templates, objects, analyser, batch=models.reembed_batch),
        settings=models,
        trust=trust,
        follow_registry=options.follow_registry,
        instance_id=models.instance_id or f"{socket.gethostname()}-{os.getpid()}",
        defaults=ActiveModels.offline(policy.base_operating_points),
    )
    return Gateway(
        settings=settings,
        client=client,
        db=db,
        objects=objects,
        producer=producer,
        analyser=analyser,
        # Read once: a missing or unreadable key file stops the gateway at start.
        admin_key=options.admin_key(),
        terminals=TerminalAuth(options.terminal_key(), options.revoked_terminals),
        templates=templates,
        recent=recent,
        challenges=challenges,
        replay=replay,
        lockouts=lockouts,
        throttle=throttle,
        sessions=SessionStore(db, ttl_s=options.session_ttl_s),
        decisions=DecisionLog(db),
        capture=SampleCapture(db, objects, producer, threshold=options.training_quality_threshold),
        swapper=swapper,
        personal=personal,
        enroller=Enroller(
            db,
            objects,
            analyser,
            templates,
            replay=replay,
            min_samples=options.min_enrol_samples,
            models=swapper.current,
            extra_targets=swapper.template_targets,
        ),
        verifier=Verifier(
            analyser=analyser,
            objects=objects,
            templates=templates,
            challenges=challenges,
            replay=replay,
            recent=recent,
            lockouts=lockouts,
            throttle=throttle,
            policy=policy,
            models=swapper.current,
            max_media_bytes=options.max_upload_bytes,
            personal=personal,
        ),
    )
