"""Audit findings 9 and 10 (and 8d), on the real stack: challenge claims and floods, brute force."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.challenges import ChallengeRejected, TooManyChallenges
from auth_gateway.gateway import GATEWAY_INDEXES, Gateway
from auth_gateway.handlers import handle, verify_attempt
from auth_gateway.http import create_app
from core import docstore
from core.settings import Settings
from producers.people import Person
from schemas import AuthDecision, LockoutEvent
from schemas.enums import DecisionReason, LockAction, Outcome
from tests.integration.gateway_kit import attempt, enrol_uploads, people, running_gateway
from tests.stack_kit import namespaced, terminal_headers, with_gateway_keys

API_KEY = "abuse-admin-key"


@pytest.fixture(scope="module")
async def gateway(base_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    settings = with_gateway_keys(
        namespaced(base_settings, "ab"),
        API_KEY,
        challenges_per_terminal_minute=3,
        throttle_free_failures=2,
        throttle_first_delay_s=600.0,
        throttle_disable_after=4,
    )
    async with running_gateway(settings, analyser, seed=3) as gw:
        yield gw


async def test_a_challenge_is_claimed_once_under_concurrency(gateway: Gateway) -> None:
    issued = await gateway.challenges.issue("racer", "term-race")

    async def claim(i: int) -> str:
        try:
            await gateway.challenges.redeem(
                issued.challenge_id, user_id="racer", terminal_id="term-race", attempt_id=f"a{i}"
            )
        except ChallengeRejected as exc:
            return exc.reason.value
        return "claimed"

    results = await asyncio.gather(*(claim(i) for i in range(8)))
    assert results.count("claimed") == 1 and results.count("challenge_reused") == 7
    winner = results.index("claimed")
    # The winner's redelivery is not a reuse.
    again = await gateway.challenges.redeem(
        issued.challenge_id, user_id="racer", terminal_id="term-race", attempt_id=f"a{winner}"
    )
    assert again.challenge_id == issued.challenge_id


async def test_someone_else_cannot_burn_a_challenge(gateway: Gateway) -> None:
    issued = await gateway.challenges.issue("owner", "term-own")
    with pytest.raises(ChallengeRejected) as info:
        await gateway.challenges.redeem(
            issued.challenge_id, user_id="thief", terminal_id="term-own", attempt_id="x1"
        )
    assert info.value.reason is DecisionReason.CHALLENGE_MISMATCH
    owned = await gateway.challenges.redeem(
        issued.challenge_id, user_id="owner", terminal_id="term-own", attempt_id="x2"
    )
    assert owned.user_id == "owner"


async def test_a_terminal_cannot_flood_challenges_and_expired_ones_are_purged(
    gateway: Gateway,
) -> None:
    app = create_app(lambda: gateway)
    key = terminal_headers("term-flood")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as http:
        codes = [
            (
                await http.post(
                    "/challenges",
                    json={"user_id": f"u{i}", "terminal_id": "term-flood"},
                    headers=key,
                )
            ).status_code
            for i in range(4)
        ]
        refused = await http.post(
            "/challenges", json={"user_id": "u9", "terminal_id": "term-flood"}, headers=key
        )
    assert codes == [200, 200, 200, 429]
    assert refused.json()["error"] == "too_many_challenges"
    with pytest.raises(TooManyChallenges):
        await gateway.challenges.issue("u9", "term-flood")

    old = datetime.now(UTC) - timedelta(hours=2)
    await gateway.db["challenges"].update_many(
        {"terminal_id": "term-flood"}, {"$set": {"expires_at": old}}
    )
    await docstore.purge_expired(gateway.db, specs=GATEWAY_INDEXES)
    assert await gateway.db["challenges"].count_documents({"terminal_id": "term-flood"}) == 0


async def _try(gw: Gateway, claimed: Person, presented: Person, k: int) -> AuthDecision:
    # A terminal of its own for each try: this fixture allows 3 challenges a minute per terminal.
    terminal = f"term-bf-{uuid.uuid4().hex[:6]}"
    challenge = await gw.challenges.issue(claimed.user_id, terminal)
    event = await attempt(
        gw,
        claimed.user_id,
        face=presented.probe_photo(k),
        voice=presented.say(challenge.digits),
        challenge_id=challenge.challenge_id,
        terminal=terminal,
    )
    return (await verify_attempt(gw, event)).decision


async def test_brute_force_is_delayed_then_disabled_until_an_admin_unlock(
    gateway: Gateway, data_dir: Path
) -> None:
    victim, attacker, _ = people(data_dir)
    faces, voices = enrol_uploads(victim)
    await gateway.enroller.enroll(victim.user_id, faces, voices)
    first = await _try(gateway, victim, attacker, 0)
    second = await _try(gateway, victim, attacker, 1)
    assert first.outcome is second.outcome is Outcome.REJECT, (first.reasons, second.reasons)
    # Two failures: the victim's own genuine login is now refused, without judging it.
    held = await _try(gateway, victim, victim, 0)
    assert held.reasons == ["locked"], held.reasons
    state = await gateway.throttle.state_of_user(victim.user_id)
    assert state.failures == 2 and state.delay_until is not None and not state.disabled

    unlock = LockoutEvent(
        producer="tests",
        user_id=victim.user_id,
        action=LockAction.UNLOCK,
        reason="admin",
        requested_by="admin-1",
    )
    await handle(gateway, unlock)
    genuine = await _try(gateway, victim, victim, 1)
    assert genuine.outcome is Outcome.ACCEPT or genuine.reasons == ["challenge_mismatch"], (
        genuine.reasons
    )
    assert (await gateway.throttle.state_of_user(victim.user_id)).failures <= 1
