"""The peer of Grace's snapshot POST in ``bench_ingest.py``: a bare FastAPI app on uvicorn that
validates the guide's snapshot body and inserts it as one SQLite row, committed (WAL,
synchronous NORMAL, as Grace runs SQLite) before it answers 201.

No registry, no event, no trigger check, no auth: what the framework, the server and one
durable SQLite insert cost.  ``bench_http.py`` also times its ``GET /rows/latest`` (one row
read by primary key) as the floor of a one-row read.  Run as
``python -m uvicorn benchmarks.bare_app:app`` with ``BARE_DB`` naming the database file.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY, model_id TEXT NOT NULL, version TEXT NOT NULL, ts TEXT NOT NULL,
    latency_p50_ms REAL NOT NULL, latency_p95_ms REAL NOT NULL, latency_p99_ms REAL NOT NULL,
    requests_per_second REAL NOT NULL, error_rate REAL NOT NULL, ood_rate REAL NOT NULL,
    input_drift_score REAL, accuracy REAL)
"""
INSERT = (
    "INSERT INTO snapshots (model_id, version, ts, latency_p50_ms, latency_p95_ms, "
    "latency_p99_ms, requests_per_second, error_rate, ood_rate, input_drift_score, accuracy) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

READ = "SELECT * FROM snapshots WHERE id = (SELECT max(id) FROM snapshots)"


class Snapshot(BaseModel):
    version: str
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    requests_per_second: float
    error_rate: float
    ood_rate: float
    input_drift_score: float | None = None
    accuracy: float | None = None


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ.get("BARE_DB", "bare.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(SCHEMA)
    return conn


app = FastAPI()
_db: list[sqlite3.Connection] = []


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/rows/latest")
async def latest() -> dict[str, object]:
    """The newest row, read by primary key: bench_http.py's floor for a one-row read."""
    if not _db:
        _db.append(_connect())
    row = _db[0].execute(READ).fetchone()
    return {"row": list(row) if row else None}


@app.post("/api/model-registry/models/{model_id}/performance", status_code=201)
async def record(model_id: str, body: Snapshot) -> dict[str, int]:
    if not _db:
        _db.append(_connect())
    conn = _db[0]
    cursor = conn.execute(
        INSERT,
        (
            model_id,
            body.version,
            datetime.now(UTC).isoformat(),
            body.latency_p50_ms,
            body.latency_p95_ms,
            body.latency_p99_ms,
            body.requests_per_second,
            body.error_rate,
            body.ood_rate,
            body.input_drift_score,
            body.accuracy,
        ),
    )  # autocommit: the row is committed when execute returns
    return {"snapshot_id": int(cursor.lastrowid or 0)}
