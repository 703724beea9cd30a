"""The bench's presentation attacks: each gives usable media, other bytes, and is repeatable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.support.attacks import FACE_ATTACKS, VOICE_ATTACKS, Attack
from core.biometrics.audio import decode_audio
from core.biometrics.image import decode_image

DATA = Path(__file__).parents[1] / "data"
PHOTO = (DATA / "faces" / "img1.jpg").read_bytes()
CLIP = (DATA / "voices" / "0_george_1.wav").read_bytes()


@pytest.mark.parametrize("name", sorted(FACE_ATTACKS))
def test_a_face_attack_is_a_decodable_photo_with_other_bytes(name: str) -> None:
    attack: Attack = FACE_ATTACKS[name]
    made = attack(PHOTO, 1)
    assert made != PHOTO and attack(PHOTO, 1) == made
    assert decode_image(made).rgb.shape[2] == 3


@pytest.mark.parametrize("name", sorted(VOICE_ATTACKS))
def test_a_voice_attack_is_decodable_audio_with_other_bytes(name: str) -> None:
    attack: Attack = VOICE_ATTACKS[name]
    made = attack(CLIP, 1)
    assert made != CLIP and attack(CLIP, 1) == made
    audio = decode_audio(made)
    assert audio.size > 0 and float(abs(audio).max()) > 0.01
