"""Watchlists: enrolled face embeddings in SQLite, and open-set matching against them.

Open set by design: a face is only ever reported as a person when its embedding is within
`threshold` of one of that person's enrolments; everything else stays "unknown". The default
threshold (`DEFAULT_THRESHOLD`) was calibrated to a false-match rate of 1e-4 per comparison (see
`benchmarks/RESULTS.md`, section Faces): with W enrolments an unknown passer-by matches someone
with probability of roughly W × 1e-4.

Embeddings from different models cannot be compared, so the database records the sha256 of the
embedding model that filled it and refuses another.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from matthan.recognizers.faces.embed import EMBEDDING_SIZE

FloatArray = npt.NDArray[np.float32]

#: euclidean distance at a false-match rate of 1e-4 per comparison on ORL's 78,000 impostor pairs
DEFAULT_THRESHOLD = 0.48
UNKNOWN = "unknown"
DB_NAME = "watchlists.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrolments (
    id INTEGER PRIMARY KEY,
    watchlist TEXT NOT NULL,
    person TEXT NOT NULL,
    embedding BLOB NOT NULL,
    quality REAL NOT NULL,
    source TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS enrolments_person ON enrolments (watchlist, person);
"""


class WatchlistError(RuntimeError):
    """The watchlist database cannot be used as asked (the message says why and what to do)."""


def data_dir() -> Path:
    """The agent's data directory: `$MATTHAN_DATA_DIR`, else the agent config's default `data_dir`."""
    env = os.environ.get("MATTHAN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from matthan.edge.config import AgentConfig  # imported late: the agent config imports backends

    default = AgentConfig.model_fields["data_dir"].default
    return Path(default)


def default_db_path() -> Path:
    return data_dir() / "faces" / DB_NAME


@dataclass(frozen=True)
class Match:
    """The nearest enrolment to a face; `person` is UNKNOWN when it is farther than the threshold."""

    person: str
    watchlist: str | None
    distance: float

    @property
    def known(self) -> bool:
        return self.person != UNKNOWN


class WatchlistStore:
    """One SQLite file of enrolments; keeps the embeddings in memory and reloads them on change."""

    def __init__(self, path: Path, model_sha256: str, *, create: bool = True) -> None:
        self.path = path
        self.model_sha256 = model_sha256
        self._conn: sqlite3.Connection | None = None
        self._version = -1
        self._vectors = np.zeros((0, EMBEDDING_SIZE), np.float32)
        self._labels: list[tuple[str, str]] = []
        self._create = create
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connect()

    def __enter__(self) -> WatchlistStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> sqlite3.Connection | None:
        """The connection, opened on first use; None while the file does not exist (agent mode)."""
        if self._conn is not None:
            return self._conn
        if not self._create and not self.path.is_file():
            return None
        try:
            conn = sqlite3.connect(self.path, timeout=5.0)
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'embedder_sha256'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('embedder_sha256', ?)", (self.model_sha256,))
                conn.commit()
            elif row[0] != self.model_sha256:
                conn.close()
                raise WatchlistError(
                    f"{self.path} holds embeddings of another model (sha256 {row[0][:12]}…, this one is "
                    f"{self.model_sha256[:12]}…); enrol the people again into a new --db"
                )
        except sqlite3.DatabaseError as exc:
            raise WatchlistError(f"{self.path}: not a usable watchlist database ({exc})") from None
        self._conn = conn
        return conn

    def enroll(
        self, watchlist: str, person: str, embeddings: list[tuple[FloatArray, float, str]]
    ) -> list[int]:
        """Add (embedding, quality, source) rows for one person in one transaction; their ids."""
        if not watchlist.strip() or not person.strip():
            raise WatchlistError("watchlist and person must not be empty")
        if person == UNKNOWN:
            raise WatchlistError(f"{UNKNOWN!r} is reserved for faces that match nobody")
        conn = self._connect()
        if conn is None:
            raise WatchlistError(f"{self.path} does not exist")
        ids = []
        now = time.time()
        with conn:
            for vector, quality, source in embeddings:
                blob = np.asarray(vector, "<f4").reshape(EMBEDDING_SIZE).tobytes()
                cur = conn.execute(
                    "INSERT INTO enrolments (watchlist, person, embedding, quality, source, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (watchlist, person, blob, float(quality), source, now),
                )
                ids.append(int(cur.lastrowid or 0))
        return ids

    def _refresh(self) -> None:
        conn = self._connect()
        if conn is None:
            return
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        count = int(conn.execute("SELECT count(*) FROM enrolments").fetchone()[0])
        if version == self._version and count == len(self._labels):
            return
        rows = conn.execute("SELECT watchlist, person, embedding FROM enrolments ORDER BY id").fetchall()
        self._labels = [(str(w), str(p)) for w, p, _ in rows]
        self._vectors = (
            np.stack([np.frombuffer(b, "<f4") for _, _, b in rows]).astype(np.float32)
            if rows
            else np.zeros((0, EMBEDDING_SIZE), np.float32)
        )
        self._version = version

    def __len__(self) -> int:
        self._refresh()
        return len(self._labels)

    def people(self) -> list[tuple[str, str, int]]:
        """(watchlist, person, enrolments) for everyone enrolled."""
        self._refresh()
        counts: dict[tuple[str, str], int] = {}
        for label in self._labels:
            counts[label] = counts.get(label, 0) + 1
        return [(w, p, n) for (w, p), n in sorted(counts.items())]

    def nearest(self, embedding: FloatArray, threshold: float = DEFAULT_THRESHOLD) -> Match:
        """The closest enrolment; its person only when within `threshold`, else UNKNOWN."""
        self._refresh()
        if not self._labels:
            return Match(UNKNOWN, None, float("inf"))
        distances = np.linalg.norm(self._vectors - np.asarray(embedding, np.float32)[None, :], axis=1)
        i = int(np.argmin(distances))
        distance = float(distances[i])
        if distance > threshold:
            return Match(UNKNOWN, None, distance)
        watchlist, person = self._labels[i]
        return Match(person, watchlist, distance)
