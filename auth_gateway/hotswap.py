"""Zero-downtime hot-swap of the embedder adapters (DESIGN.md, "Hot-swap").

On ``models.published`` each instance, on its own: verifies the version (sha256, Ed25519
signature, :mod:`core.registry.verify`), loads it into onnxruntime and checks its I/O spec
(:mod:`core.registry.onnx_model`), runs the canary set against the active version
(:mod:`core.registry.canary`), re-embeds every enrolled user into templates for the new version
(:mod:`auth_gateway.reembed`), marks it active in the registry and only then swaps: one
assignment of an immutable :class:`ActiveModels`. An attempt takes that reference when it
starts (:class:`auth_gateway.verifier.Verifier`), so attempts in flight finish on the versions
they began with and every decision names them. The replaced version stays loaded as the
rollback target, and the new one is watched (:mod:`auth_gateway.rollback`).

The registry is the shared truth: an instance that hears of another instance's activation or
rollback on ``models.activations`` — or notices a difference on its periodic sync — converges
on the registry's active version (verified and loaded like any other, without a canary: that
version passed it when it was activated). A version whose record shows no passed canary, or a
rejection, did not get there that way: it is judged by the canary here first, and refused if
it fails.

An instance with ``gateway.follow_registry`` off does none of this: it serves the packaged
offline defaults and ignores every model event and the periodic sync.
"""

from __future__ import annotations

import asyncio
import time

from auth_gateway.reembed import ReEmbedder
from auth_gateway.rollback import RollbackWatch
from core.bus import EventProducer
from core.logging import get_logger
from core.objectstore import ObjectStore
from core.registry import (
    SLOTS,
    ActiveModels,
    CanaryMetrics,
    LoadedModel,
    ModelRecord,
    ModelRegistry,
    ModelRejected,
    ModelStatus,
    NothingToRollBack,
    fetch_verified,
    judge,
    load_adapter,
    load_canary,
)
from core.settings import ModelsSection
from core.signing import TrustedKeys
from schemas import ActivationStatus, ModelActivation, ModelPublished
from schemas.catalog import AUTH_GATEWAY
from schemas.model_catalog import BASE_VERSION

log = get_logger(__name__)


class HotSwapper:
    def __init__(
        self,
        *,
        registry: ModelRegistry,
        objects: ObjectStore,
        producer: EventProducer,
        reembedder: ReEmbedder,
        settings: ModelsSection,
        trust: TrustedKeys,
        instance_id: str,
        defaults: ActiveModels,
        follow_registry: bool,
    ) -> None:
        self.registry = registry
        self.objects = objects
        self.producer = producer
        self.reembedder = reembedder
        self.settings = settings
        self.trust = trust
        self.instance_id = instance_id
        self.follow_registry = follow_registry
        self.watch = RollbackWatch(settings, self._auto_rollback)
        # The packaged models with the operating points ``kibalock eval`` fitted for them.
        self._defaults = defaults
        self._active = defaults
        self._previous: dict[str, LoadedModel] = {}
        self._preparing: dict[str, LoadedModel] = {}
        # Versions this instance could not load although the registry made them active: said
        # once on models.activations, not at every sync.
        self._refused: set[tuple[str, str]] = set()
        self._lock = asyncio.Lock()

    def current(self) -> ActiveModels:
        return self._active

    def previous(self) -> dict[str, str]:
        return {name: model.version for name, model in self._previous.items()}

    def template_targets(self, name: str) -> list[LoadedModel]:
        """Besides the active version, the versions a new enrolment also needs templates for:
        the one being prepared (it may serve in a moment) and the rollback target."""
        return [m for m in (self._preparing.get(name), self._previous.get(name)) if m is not None]

    async def start(self) -> None:
        """Serve the registry's active versions, or the offline defaults where there are none."""
        if not self.follow_registry:
            log.info("not following the registry", versions=self._active.versions())
            return
        for name in SLOTS:
            await self.converge(name)
        log.info("models loaded", versions=self._active.versions())

    # -- a new version ---------------------------------------------------------------------

    async def handle_published(self, event: ModelPublished) -> None:
        if not self.follow_registry:
            log.info("not following the registry", model=event.model, ignored=event.model_version)
            return
        if event.model not in SLOTS:
            # A published face detector is not for gateways to judge: they serve dlib's.
            log.info("not a swappable model", model=event.model, ignored=event.model_version)
            return
        async with self._lock:
            await self._consider(event)

    async def _consider(self, event: ModelPublished) -> None:
        name, version = event.model, event.model_version
        if name in self._active.by_name and self._active.get(name).version == version:
            return  # redelivered, or converged on already
        record = await self.registry.get(name, version)
        if record is None:
            await self._announce(
                name, version, ActivationStatus.REJECTED, "not_registered", "no registry record"
            )
            return
        if record.status in {ModelStatus.REJECTED, ModelStatus.RETIRED}:
            return  # decided before: a replay of an old event
        try:
            model = await self._load(event)
            metrics = await self._canary(model)
        except ModelRejected as exc:
            log.warning("model rejected", model=name, version=version, reason=exc.reason)
            await self.registry.reject(name, version, exc.reason, exc.detail, by=self.instance_id)
            await self._announce(name, version, ActivationStatus.REJECTED, exc.reason, exc.detail)
            return
        await self.registry.record_canary(name, version, metrics.model_dump())
        detail = f"canary EER {metrics.eer:.3f}, d' {metrics.d_prime:.2f}"
        await self._switch(model, detail, activate=True)

    async def _load(self, event: ModelPublished) -> LoadedModel:
        if event.model not in SLOTS:
            raise ModelRejected("unknown_model", f"{event.model} is not a swappable model")
        verified = await fetch_verified(self.objects, event, self.trust)
        return await asyncio.to_thread(load_adapter, verified.data, verified.manifest)

    async def _canary(self, model: LoadedModel) -> CanaryMetrics:
        canary = await load_canary(self.objects, model.name, self.trust, base_version=BASE_VERSION)
        candidate = await asyncio.to_thread(canary.run, model)
        active = await asyncio.to_thread(canary.run, self._active.get(model.name))
        judge(
            candidate,
            active,
            eer_tolerance=self.settings.canary_eer_tolerance,
            dprime_tolerance=self.settings.canary_dprime_tolerance,
            fmr_tolerance=self.settings.canary_fmr_tolerance,
        )
        return candidate

    async def _switch(self, model: LoadedModel, detail: str, *, activate: bool) -> None:
        """Templates first, then the registry, then the one-assignment swap."""
        name = model.name
        started = time.perf_counter()
        self._preparing[name] = model
        try:
            # The second pass catches users who enrolled while the first one ran.
            first = await self.reembedder.run(model)
            await self.reembedder.run(model)
            if activate and not await self.registry.activate(
                name, model.version, by=self.instance_id
            ):
                await self._announce(
                    name,
                    model.version,
                    ActivationStatus.REJECTED,
                    "superseded",
                    "rejected in the registry while it was being prepared",
                )
                return
            previous = self._active.get(name)
            self._active = self._active.replace(model)
            self._previous[name] = previous
        finally:
            self._preparing.pop(name, None)
        await self.reembedder.run(model)
        self.watch.start(name, model.version, previous.version)
        log.info(
            "model activated",
            model=name,
            version=model.version,
            previous=previous.version,
            templates=first.templates,
            seconds=round(time.perf_counter() - started, 3),
        )
        await self._announce(
            name,
            model.version,
            ActivationStatus.ACTIVATED,
            None if activate else "converged",
            f"{detail}; {first.templates} templates re-embedded in {first.seconds:.2f} s",
            previous=previous.version,
        )

    # -- rollback and convergence ----------------------------------------------------------

    async def rollback(
        self, name: str, reason: str, detail: str, *, expected: str | None = None
    ) -> ModelActivation:
        """Back to the version the active one replaced; raises :class:`NothingToRollBack`."""
        async with self._lock:
            current = self._active.get(name)
            if current.is_offline_default or (expected and current.version != expected):
                raise NothingToRollBack(f"{name} serves {current.version}: nothing to roll back")
            rolled, restored = await self.registry.rollback(
                name, reason, by=self.instance_id, expected=current.version
            )
            target = await self._resolve(name, restored)
            await self.reembedder.run(target)
            self._active = self._active.replace(target)
            self._previous.pop(name, None)
            self.watch.stop(name)
            log.warning("model rolled back", model=name, version=rolled, to=target.version)
            return await self._announce(
                name, rolled, ActivationStatus.ROLLED_BACK, reason, detail, previous=target.version
            )

    async def _auto_rollback(self, name: str, version: str, reason: str, detail: str) -> None:
        try:
            await self.rollback(name, reason, detail, expected=version)
        except NothingToRollBack:
            # Another instance (or an operator) was first: follow the registry.
            await self.converge(name)

    async def _resolve(self, name: str, version: str | None) -> LoadedModel:
        """A loaded model for a registry version (None: the offline default)."""
        if version is None:
            return self._defaults.get(name)
        warm = self._previous.get(name)
        if warm is not None and warm.version == version:
            return warm
        record = await self.registry.get(name, version)
        if record is None:
            raise ModelRejected("not_registered", f"{name} {version} is not in the registry")
        return await self._load(record.published_event(AUTH_GATEWAY))

    async def converge(self, name: str) -> None:
        """Serve the version the registry says is active, if this instance does not already."""
        if not self.follow_registry:
            return
        async with self._lock:
            record = await self.registry.active(name)
            wanted = record.version if record else BASE_VERSION
            current = self._active.get(name)
            if current.version == wanted or (name, wanted) in self._refused:
                return
            try:
                target = await self._resolve(name, record.version if record else None)
                if record is not None and not _passed_canary(record):
                    # Not how the registry activates a version: someone edited it, or a
                    # rejection raced the activation. Judge it here before serving it.
                    await self._canary(target)
            except ModelRejected as exc:
                self._refused.add((name, wanted))
                log.warning(
                    "registry version refused", model=name, version=wanted, reason=exc.reason
                )
                await self._announce(
                    name, wanted, ActivationStatus.REJECTED, exc.reason, exc.detail
                )
                return
            if target is self._previous.get(name) or target.is_offline_default:
                # The registry went back: a rollback decided elsewhere.
                await self.reembedder.run(target)
                self._active = self._active.replace(target)
                self._previous.pop(name, None)
                self.watch.stop(name)
                log.info("followed a rollback", model=name, version=target.version)
                return
            await self._switch(target, "following the registry", activate=False)

    async def on_activation(self, event: ModelActivation) -> None:
        """Another instance (or the CLI) changed what serves: converge on the registry."""
        if event.instance_id == self.instance_id or event.model not in SLOTS:
            return
        if event.status in {ActivationStatus.ACTIVATED, ActivationStatus.ROLLED_BACK}:
            await self.converge(event.model)

    async def sync_forever(self, stop: asyncio.Event) -> None:
        """The safety net beside the events: converge every ``sync_interval_s``."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.settings.sync_interval_s)
            except TimeoutError:
                for name in SLOTS:
                    await self.converge(name)

    async def _announce(
        self,
        name: str,
        version: str,
        status: ActivationStatus,
        reason: str | None,
        detail: str | None,
        *,
        previous: str | None = None,
    ) -> ModelActivation:
        event = ModelActivation(
            producer=AUTH_GATEWAY,
            model=name,
            model_version=version,
            status=status,
            reason=reason,
            detail=detail[:2000] if detail else None,
            previous_version=previous,
            instance_id=self.instance_id,
        )
        await self.producer.publish(event)
        return event


def _passed_canary(record: ModelRecord) -> bool:
    """The registry shows ``record`` passed a canary and was never refused since."""
    return bool(record.canary) and all(c.status is not ModelStatus.REJECTED for c in record.history)
