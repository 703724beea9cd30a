"""The decision log (``attempts``): one decision per attempt_id, the first one recorded wins."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from core.docstore import Database
from schemas import AuthAttempt, AuthDecision


class DecisionLog:
    def __init__(self, db: Database) -> None:
        self._coll = db["attempts"]

    async def find(self, attempt_id: str) -> AuthDecision | None:
        doc = await self._coll.find_one({"attempt_id": attempt_id})
        return None if doc is None else AuthDecision.model_validate_json(doc["decision"])

    async def attempt_of(self, attempt_id: str) -> AuthAttempt | None:
        doc = await self._coll.find_one({"attempt_id": attempt_id})
        return None if doc is None else AuthAttempt.model_validate_json(doc["attempt"])

    async def qualities_of(self, attempt_id: str) -> dict[str, float]:
        doc = await self._coll.find_one({"attempt_id": attempt_id}, {"qualities": 1})
        return {} if doc is None else dict(doc.get("qualities") or {})

    async def record(
        self, attempt: AuthAttempt, decision: AuthDecision, qualities: dict[str, float]
    ) -> tuple[AuthDecision, bool]:
        """Stores the decision unless one exists; returns (the decision of record, is_new)."""
        try:
            await self._coll.insert_one(
                {
                    "attempt_id": decision.attempt_id,
                    "user_id": decision.user_id,
                    "terminal_id": decision.terminal_id,
                    "outcome": decision.outcome.value,
                    "decided_at": decision.decided_at,
                    "model_versions": decision.model_versions,
                    "fused_score": decision.fused_score,
                    "latency_ms": decision.latency_ms,
                    "qualities": qualities,
                    # The exact events, as JSON, so the log replays them byte for byte.
                    "decision": decision.model_dump_json(),
                    "attempt": attempt.model_dump_json(),
                }
            )
        except DuplicateKeyError:
            stored = await self.find(decision.attempt_id)
            assert stored is not None
            return stored, False
        return decision, True

    async def performance(self, model: str) -> dict[str, Any]:
        """Per version of ``model``: decisions by outcome, mean fused score, latency median."""
        versions: dict[str, dict[str, Any]] = {}
        cursor = self._coll.find(
            {f"model_versions.{model}": {"$exists": True}},
            {"model_versions": 1, "outcome": 1, "fused_score": 1, "latency_ms": 1},
        )
        async for doc in cursor:
            row = versions.setdefault(
                doc["model_versions"][model],
                {"decisions": 0, "outcomes": {}, "fused": [], "latency_ms": []},
            )
            row["decisions"] += 1
            row["outcomes"][doc["outcome"]] = row["outcomes"].get(doc["outcome"], 0) + 1
            if doc.get("fused_score") is not None:
                row["fused"].append(doc["fused_score"])
            row["latency_ms"].append(doc["latency_ms"])
        return {
            version: {
                "decisions": row["decisions"],
                "outcomes": row["outcomes"],
                "accept_rate": row["outcomes"].get("accept", 0) / row["decisions"],
                "mean_fused_score": sum(row["fused"]) / len(row["fused"]) if row["fused"] else None,
                "latency_ms_p50": sorted(row["latency_ms"])[len(row["latency_ms"]) // 2],
            }
            for version, row in versions.items()
        }

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
