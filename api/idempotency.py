"""`Idempotency-Key`: a retried request answers the first outcome and writes nothing twice.

The key is claimed in PostgreSQL before the call and the outcome stored after it. A claim whose outcome
never arrived (the API process died mid-call) is taken over after `STALE`; the decision is then resent with
the same Temporal update id, so the case itself answers the first outcome rather than applying it twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from api.problems import ApiProblem

STALE = timedelta(seconds=60)
# how long an outcome is kept for replay; later retries are still answered once by the case itself (the
# Temporal update id is derived from the same key)
RETENTION = timedelta(days=30)
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Stored:
    status: int
    body: Any


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def update_id(principal: str, key: str) -> str:
    """The Temporal update id of a keyed decision: one per (caller, key)."""
    return "api-" + hashlib.sha256(f"{principal}\x00{key}".encode()).hexdigest()[:32]


def check_key(key: str) -> None:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ApiProblem(422, f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} characters", errors=[
            {"field": "Idempotency-Key", "message": f"must be 1 to {MAX_KEY_LENGTH} characters"}])


async def claim(pool: asyncpg.Pool, principal: str, key: str, request_hash: str) -> Stored | None:
    """None: this request owns the key and goes ahead. A `Stored` outcome: answer it. Raises 409/422 problems."""
    check_key(key)
    async with pool.acquire() as conn:
        inserted = await conn.fetchval(
            "INSERT INTO api_idempotency (principal, key, request_hash) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true",
            principal, key, request_hash,
        )
        if inserted:
            return None
        row = await conn.fetchrow(
            "SELECT request_hash, status, body, now() - created_at AS age FROM api_idempotency "
            "WHERE principal = $1 AND key = $2",
            principal, key,
        )
        if row is None:  # the owner gave up between our insert and select: try once more
            return await claim(pool, principal, key, request_hash)
        if row["request_hash"] != request_hash:
            raise ApiProblem(422, "Idempotency-Key: already used for a different request", errors=[
                {"field": "Idempotency-Key", "message": "already used for a different request"}])
        if row["status"] is not None:
            body = row["body"]
            return Stored(row["status"], json.loads(body) if isinstance(body, str) else body)
        if row["age"] < STALE:
            raise ApiProblem(409, "a request with this Idempotency-Key is still in progress; retry later")
        taken = await conn.fetchval(
            "UPDATE api_idempotency SET created_at = now() WHERE principal = $1 AND key = $2 AND status IS NULL "
            "AND now() - created_at >= $3 RETURNING true",
            principal, key, STALE,
        )
        if not taken:
            raise ApiProblem(409, "a request with this Idempotency-Key is still in progress; retry later")
        return None


async def finish(pool: asyncpg.Pool, principal: str, key: str, status: int, body: Any) -> None:
    await pool.execute(
        "UPDATE api_idempotency SET status = $3, body = $4, completed_at = now() WHERE principal = $1 AND key = $2",
        principal, key, status, body,  # the pool's jsonb codec encodes it
    )


async def release(pool: asyncpg.Pool, principal: str, key: str) -> None:
    """The call failed for a passing reason (Temporal unreachable): the next retry runs it again."""
    await pool.execute(
        "DELETE FROM api_idempotency WHERE principal = $1 AND key = $2 AND status IS NULL", principal, key
    )


async def expire(pool: asyncpg.Pool, older_than: timedelta = RETENTION) -> int:
    """Forget outcomes older than `older_than`; returns how many."""
    status = await pool.execute("DELETE FROM api_idempotency WHERE created_at < now() - $1::interval", older_than)
    return int(status.split()[-1])
