"""The durable event spool: every event is written here (SQLite, WAL) before it is sent, and
removed only after the broker acknowledged it. The agent can stop or lose its broker at any time
without losing an event; on restart the spool replays in order."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from matthan.integration.events import KafkaRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    created REAL NOT NULL,
    capture_time REAL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    created REAL NOT NULL,
    reason TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class SpooledEvent:
    seq: int
    event_id: str
    record: KafkaRecord
    created: float
    capture_time: float | None = None


class Spool:
    """A FIFO of Kafka records on disk; safe to use from several threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        if "capture_time" not in columns:  # a spool written by an older agent
            self._db.execute("ALTER TABLE events ADD COLUMN capture_time REAL")
        self.added = threading.Event()

    def put(self, event_id: str, record: KafkaRecord, capture_time: float | None = None) -> None:
        headers = json.dumps([[k, v.decode("utf-8")] for k, v in record.headers])
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO events (event_id, topic, key, value, headers, created, capture_time) "
                "VALUES (?,?,?,?,?,?,?)",
                (event_id, record.topic, record.key, record.value, headers, time.time(), capture_time),
            )
        self.added.set()

    def peek(self, limit: int = 100) -> list[SpooledEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, key, value, headers, created, capture_time "
                "FROM events ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            SpooledEvent(
                seq,
                event_id,
                KafkaRecord(
                    topic, bytes(key), bytes(value), [(k, v.encode()) for k, v in json.loads(headers)]
                ),
                created,
                capture_time,
            )
            for seq, event_id, topic, key, value, headers, created, capture_time in rows
        ]

    def remove(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self._lock:
            self._db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in seqs])

    def reject(self, seq: int, reason: str) -> None:
        """Move an event that can never be delivered (e.g. too large) aside, with the reason."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO rejected "
                "SELECT seq, event_id, topic, key, value, headers, created, ? "
                "FROM events WHERE seq = ?",
                (reason, seq),
            )
            self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def rejected_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])

    def oldest_age_s(self) -> float:
        with self._lock:
            row = self._db.execute("SELECT MIN(created) FROM events").fetchone()
        return 0.0 if row[0] is None else max(0.0, time.time() - float(row[0]))

    def size_bytes(self) -> int:
        """The spool's files on disk (database and write-ahead log)."""
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())

    def close(self) -> None:
        with self._lock:
            self._db.close()
