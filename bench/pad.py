"""Replay / presentation-attack figures of the echo check (ISO/IEC 30107-3 APCER and BPCER).

    python -m bench.pad --data tests/data --out out/pad.json [--cache DIR] [--threshold 0.99]

Bona fide presentations are the data set's captures: each is compared with every *other*
capture of the same person (as if those were the enrolment samples and recent probes), and the
highest cosine is its score. Attack presentations are built from each capture
(:mod:`bench.support.attacks`: re-encoded, resized, screen- and print-replayed photos;
resampled, µ-law, noisy and loudspeaker-replayed recordings); the score of an attack is its
cosine to the capture it was made from. The echo check calls a presentation an attack when its
score reaches the threshold, so

- BPCER = bona fide presentations whose score ≥ threshold / bona fide presentations;
- APCER (per attack type) = attacks whose score < threshold / attacks.

A presentation the engine cannot use (no face, no speech) is counted apart, not as an error:
the gateway asks for a retry. Voices are 3-digit utterances joined from single-digit clips, one
take each, so two utterances of one speaker share no recording; utterances of the same digits
by the same speaker (the closest genuine pair) are included. Embeddings are cached per file and
attack, so a second run costs only the arithmetic.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray
from pydantic import BaseModel

from bench.support.attacks import FACE_ATTACKS, VOICE_ATTACKS, Attack
from core.biometrics.audio import join_clips
from core.biometrics.dataset import read_faces, read_voices
from core.biometrics.echo import DEFAULT_ECHO_COSINE, nearest_cosine
from core.biometrics.thresholds import Rate
from core.biometrics.types import AnalysedSample

VOICE_GROUPS = ("012", "345", "678")
SEED = 7

app = typer.Typer(add_completion=False)


class Capture(BaseModel):
    person: str
    key: str  # names the capture in the cache and the report


class ModalityReport(BaseModel):
    bona_fide: int
    unusable_bona_fide: int
    genuine_max_cosine: float
    genuine_quantiles: dict[str, float]
    closest_genuine_pair: list[str]
    bpcer: Rate
    apcer: dict[str, Rate]
    unusable_attacks: dict[str, int]
    attack_cosine_quantiles: dict[str, dict[str, float]]


class EmbeddingCache:
    """Base embeddings by (capture, attack), in one ``.npz`` file per data set and modality."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._items: dict[str, NDArray[np.float32]] = {}
        if path.is_file():
            with np.load(path) as stored:
                self._items = {k: stored[k] for k in stored.files}

    def get(
        self, key: str, compute: Callable[[], NDArray[np.float32] | None]
    ) -> NDArray[np.float32] | None:
        if key not in self._items:
            found = compute()
            # An unusable sample is cached as an empty vector: no need to analyse it again.
            self._items[key] = np.zeros(0, np.float32) if found is None else found
        value = self._items[key]
        return value if value.size else None

    def save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(self._path, **self._items)  # type: ignore[arg-type]


def _base(sample: AnalysedSample) -> NDArray[np.float32] | None:
    if sample.base_embedding is None:
        return None
    return np.asarray(sample.base_embedding, np.float32).reshape(-1)


def face_captures(data: Path, per_person: int | None) -> Iterator[tuple[Capture, bytes]]:
    for person, photos in sorted(read_faces(data).items()):
        for photo in photos[:per_person]:
            yield Capture(person=person, key=photo.name), photo.read_bytes()


def voice_captures(data: Path, per_person: int | None) -> Iterator[tuple[Capture, bytes]]:
    for speaker, clips in sorted(read_voices(data).items()):
        takes = min(len(clips.get(int(d), [])) for g in VOICE_GROUPS for d in g)
        made = 0
        for take in range(takes):
            for group in VOICE_GROUPS:
                if per_person is not None and made >= per_person:
                    break
                recording = join_clips([clips[int(d)][take].read_bytes() for d in group])
                yield Capture(person=speaker, key=f"{speaker}:{group}:{take}"), recording
                made += 1


def measure(
    captures: list[tuple[Capture, bytes]],
    attacks: dict[str, Attack],
    embed: Callable[[bytes], NDArray[np.float32] | None],
    cache: EmbeddingCache,
    threshold: float,
    attacked_per_person: int,
) -> ModalityReport:
    vectors: dict[str, NDArray[np.float32]] = {}
    by_person: dict[str, list[str]] = defaultdict(list)
    unusable = 0
    for capture, data in captures:
        found = cache.get(capture.key, lambda data=data: embed(data))  # type: ignore[misc]
        if found is None:
            unusable += 1
            continue
        vectors[capture.key] = found
        by_person[capture.person].append(capture.key)

    scores: list[float] = []
    closest = (-2.0, ["", ""])
    for keys in by_person.values():
        for key in keys:
            others = [k for k in keys if k != key]
            if not others:
                continue
            matrix = np.stack([vectors[k] for k in others])
            score = nearest_cosine(vectors[key], matrix)
            scores.append(score)
            if score > closest[0]:
                best = others[int(np.argmax(matrix @ vectors[key]))]
                closest = (score, [key, best])
    genuine = np.asarray(scores)

    attack_scores: dict[str, list[float]] = defaultdict(list)
    attack_unusable: dict[str, int] = defaultdict(int)
    attacked: dict[str, int] = defaultdict(int)
    for capture, data in captures:
        if capture.key not in vectors or attacked[capture.person] >= attacked_per_person:
            continue
        attacked[capture.person] += 1
        for name, attack in attacks.items():
            seed = SEED + int(hashlib.sha256(capture.key.encode()).hexdigest()[:6], 16)
            found = cache.get(
                f"{capture.key}|{name}",
                lambda data=data, attack=attack, seed=seed: embed(attack(data, seed)),  # type: ignore[misc]
            )
            if found is None:
                attack_unusable[name] += 1
                continue
            attack_scores[name].append(nearest_cosine(found, vectors[capture.key][None, :]))

    return ModalityReport(
        bona_fide=len(genuine),
        unusable_bona_fide=unusable,
        genuine_max_cosine=round(float(genuine.max()), 5),
        genuine_quantiles=_quantiles(genuine),
        closest_genuine_pair=closest[1],
        bpcer=Rate.of(int((genuine >= threshold).sum()), len(genuine)),
        apcer={
            name: Rate.of(int((np.asarray(s) < threshold).sum()), len(s))
            for name, s in attack_scores.items()
        },
        unusable_attacks=dict(attack_unusable),
        attack_cosine_quantiles={n: _quantiles(np.asarray(s)) for n, s in attack_scores.items()},
    )


def _quantiles(values: NDArray[np.floating[Any]]) -> dict[str, float]:
    if values.size == 0:
        return {}
    marks = {"min": 0.0, "p01": 0.01, "p50": 0.5, "p99": 0.99, "max": 1.0}
    return {k: round(float(np.quantile(values, q)), 5) for k, q in marks.items()}


@app.command()
def main(
    data: Annotated[Path, typer.Option(help="a data folder (faces/, voices/)")] = Path(
        "tests/data"
    ),
    out: Annotated[Path, typer.Option(help="the JSON report")] = Path("out/pad.json"),
    cache: Annotated[Path, typer.Option(help="embedding cache folder")] = Path("out/pad-cache"),
    threshold: Annotated[float, typer.Option(help="echo cosine threshold")] = DEFAULT_ECHO_COSINE,
    faces_per_person: Annotated[
        int | None, typer.Option(help="bona fide photos per person")
    ] = None,
    voices_per_person: Annotated[int | None, typer.Option(help="utterances per speaker")] = None,
    attacked_per_person: Annotated[int, typer.Option(help="captures attacked per person")] = 1000,
    modality: Annotated[list[str] | None, typer.Option(help="face and/or voice")] = None,
) -> None:
    from core.biometrics.face import FaceEngine
    from core.biometrics.voice import VoiceEngine

    wanted = modality or ["face", "voice"]
    tag = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:10]
    report: dict[str, Any] = {"data": str(data), "threshold": threshold}
    plans = {
        "face": (FaceEngine, face_captures(data, faces_per_person), FACE_ATTACKS),
        "voice": (VoiceEngine, voice_captures(data, voices_per_person), VOICE_ATTACKS),
    }
    for name, (make_engine, captures, attacks) in plans.items():
        if name not in wanted:
            continue
        engine = make_engine()
        modality_cache = EmbeddingCache(cache / f"{tag}-{name}.npz")
        try:
            report[name] = measure(
                list(captures),
                attacks,
                lambda b, engine=engine: _base(engine.analyse(b)),  # type: ignore[misc]
                modality_cache,
                threshold,
                attacked_per_person,
            ).model_dump()
        finally:
            modality_cache.save()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    typer.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    app()
