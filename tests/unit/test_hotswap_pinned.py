"""A gateway with ``gateway.follow_registry`` off serves the packaged models whatever happens."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from auth_gateway.hotswap import HotSwapper
from core.registry import SLOTS, ActiveModels
from core.settings import ModelsSection
from core.signing import TrustedKeys
from schemas import ActivationStatus, Event, ModelActivation, ModelPublished
from schemas.examples import example_events
from schemas.model_catalog import BASE_VERSION


class Untouchable:
    """Stands for the registry, object store, producer and re-embedder: any use fails."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was used by an instance that does not follow the registry")


def _swapper(*, follow_registry: bool) -> HotSwapper:
    return HotSwapper(
        registry=cast(Any, Untouchable()),
        objects=cast(Any, Untouchable()),
        producer=cast(Any, Untouchable()),
        reembedder=cast(Any, Untouchable()),
        settings=ModelsSection(sync_interval_s=0.01),
        trust=TrustedKeys([]),
        instance_id="pinned",
        follow_registry=follow_registry,
        defaults=ActiveModels.offline({}),
    )


def _event(kind: type[Event]) -> Any:
    event = next(e for e in example_events() if isinstance(e, kind))
    return event.model_copy(update={"model": "face-embedder", "instance_id": "elsewhere"})


async def test_a_pinned_instance_ignores_the_registry_and_model_events() -> None:
    swapper = _swapper(follow_registry=False)
    offline = {name: BASE_VERSION for name in SLOTS}

    await swapper.start()
    await swapper.handle_published(_event(ModelPublished))
    activation = _event(ModelActivation)
    assert activation.status is ActivationStatus.ACTIVATED
    await swapper.on_activation(activation)
    stop = asyncio.Event()
    syncing = asyncio.create_task(swapper.sync_forever(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await syncing

    assert swapper.current().versions() == offline


async def test_a_following_instance_asks_the_registry() -> None:
    with pytest.raises(AssertionError, match="active was used"):
        await _swapper(follow_registry=True).start()
