"""Kafka clients for the agent and the centre: the same code for the embedded broker and for any
Apache Kafka cluster given as bootstrap servers (with TLS/SASL settings passed through)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Literal

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import BaseModel, ConfigDict, Field, SecretStr

log = logging.getLogger(__name__)


class KafkaSettings(BaseModel):
    """How to reach the broker. `bootstrap_servers: embedded` starts tansu on 127.0.0.1."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str = "embedded"
    client_id: str = "matthan"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    partitions: int = Field(default=3, ge=1, description="partitions for topics this agent creates")
    replication_factor: int = Field(default=1, ge=1)
    request_timeout_ms: int = Field(default=10_000, ge=1000)

    @property
    def embedded(self) -> bool:
        return self.bootstrap_servers.strip().lower() == "embedded"

    def client_config(self) -> dict[str, Any]:
        """Settings common to producers, consumers and admin clients (secrets included: never log it)."""
        cfg: dict[str, Any] = {
            "bootstrap_servers": [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()],
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
            # fail fast and retry often: an unreachable broker must not block the agent's threads
            "bootstrap_timeout_ms": 5_000,
            "reconnect_backoff_max_ms": 2_000,
        }
        if self.sasl_mechanism:
            cfg["sasl_mechanism"] = self.sasl_mechanism
            cfg["sasl_plain_username"] = self.sasl_username
            cfg["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, key):
                cfg[key] = getattr(self, key)
        return cfg


def make_producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    """A producer that waits for every in-sync replica (acks=all) and never duplicates on retry."""
    cfg = settings.client_config()
    cfg.update(
        acks="all",
        enable_idempotence=True,
        compression_type="gzip",
        linger_ms=5,
        retries=2**31 - 1,
        delivery_timeout_ms=120_000,
        max_block_ms=5_000,
    )
    cfg.update(overrides)
    return KafkaProducer(**cfg)


def make_consumer(
    settings: KafkaSettings, *topics: str, group_id: str | None, **overrides: Any
) -> KafkaConsumer:
    """A consumer; with a group, the first join takes about half of session_timeout_ms on tansu."""
    cfg = settings.client_config()
    cfg.update(
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=group_id is not None,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    cfg.update(overrides)
    return KafkaConsumer(*topics, **cfg)


def ensure_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """Create the topics that do not exist yet, with the configured partitions."""
    admin = KafkaAdminClient(**settings.client_config())
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [
            NewTopic(
                name=t, num_partitions=settings.partitions, replication_factor=settings.replication_factor
            )
            for t in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(new)
        log.info("created topics %s", ", ".join(missing))
    except KafkaError as exc:
        raise KafkaError(f"could not create topics {topics}: {exc}") from exc
    finally:
        admin.close()
