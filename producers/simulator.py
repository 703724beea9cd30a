"""Replays people at a terminal: genuine logins, impostors, wrong digits and replay attacks.

Each scenario says what a correct gateway must answer, so the simulator doubles as a live check
of the whole loop (terminal → Kafka → gateway → decisions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel

from producers.people import Person
from producers.terminal import Capture, Terminal
from schemas import AuthAttempt


class Scenario(StrEnum):
    GENUINE = "genuine"
    IMPOSTOR_FACE = "impostor (other face)"
    IMPOSTOR_VOICE = "impostor (other voice)"
    IMPOSTOR_BOTH = "impostor (other person)"
    WRONG_DIGITS = "wrong digits"
    REPLAY = "replay attack"


EXPECTED = {Scenario.GENUINE: "accept"}  # every other scenario must be rejected


class Sent(BaseModel):
    scenario: Scenario
    claimed: str
    attempt: AuthAttempt

    @property
    def expected(self) -> str:
        return EXPECTED.get(self.scenario, "reject")


async def run_scenarios(
    terminal: Terminal,
    crowd: list[Person],
    *,
    genuine_per_person: int = 2,
    on_sent: Callable[[Sent], None] = lambda _: None,
) -> list[Sent]:
    sent: list[Sent] = []

    async def send(
        scenario: Scenario, claimed: Person, face: bytes, voice_of: Person, digits_ok: bool
    ) -> Sent:
        challenge = await terminal.challenge(claimed.user_id)
        digits = (
            challenge.digits
            if digits_ok
            else "".join(str((int(d) + 3) % 10) for d in challenge.digits)
        )
        event = await terminal.attempt(
            claimed.user_id, Capture(face=face, voice=voice_of.say(digits)), challenge.challenge_id
        )
        item = Sent(scenario=scenario, claimed=claimed.user_id, attempt=event)
        sent.append(item)
        on_sent(item)
        return item

    for i, person in enumerate(crowd):
        other = crowd[(i + 1) % len(crowd)]
        first = None
        for k in range(genuine_per_person):
            item = await send(Scenario.GENUINE, person, person.probe_photo(k), person, True)
            first = first or item
        await send(Scenario.IMPOSTOR_FACE, person, other.probe_photo(0), person, True)
        # A photo no genuine login used: the same one again would be refused as a replay.
        await send(Scenario.IMPOSTOR_VOICE, person, person.probe_photo(2), other, True)
        await send(Scenario.IMPOSTOR_BOTH, person, other.probe_photo(1), other, True)
        await send(Scenario.WRONG_DIGITS, person, person.probe_photo(2), person, False)
        assert first is not None
        challenge = await terminal.challenge(person.user_id)
        replayed = await terminal.replay(first.attempt, challenge.challenge_id)
        item = Sent(scenario=Scenario.REPLAY, claimed=person.user_id, attempt=replayed)
        sent.append(item)
        on_sent(item)
        await asyncio.sleep(0)
    return sent
