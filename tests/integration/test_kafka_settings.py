"""Kafka settings pass TLS/SASL through to the clients and never show the secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from matthan.integration.kafka import KafkaSettings


def test_sasl_and_tls_pass_through_and_the_password_stays_hidden() -> None:
    settings = KafkaSettings(
        bootstrap_servers="kafka-1:9093, kafka-2:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="edge-01",
        sasl_password="s3cr3t-pw",
        ssl_cafile="/etc/matthan/ca.pem",
    )
    cfg = settings.client_config()
    assert cfg["bootstrap_servers"] == ["kafka-1:9093", "kafka-2:9093"]
    assert cfg["security_protocol"] == "SASL_SSL"
    assert cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert cfg["sasl_plain_username"] == "edge-01"
    assert cfg["sasl_plain_password"] == "s3cr3t-pw"
    assert cfg["ssl_cafile"] == "/etc/matthan/ca.pem"
    assert not settings.embedded
    for text in (str(settings), repr(settings), settings.model_dump_json()):
        assert "s3cr3t-pw" not in text


def test_plaintext_has_no_security_keys() -> None:
    cfg = KafkaSettings(bootstrap_servers="127.0.0.1:9092").client_config()
    assert not any(key.startswith(("sasl", "ssl")) for key in cfg)


@pytest.mark.parametrize("field", ["security_protocol", "sasl_mechanism"])
def test_unknown_security_values_are_rejected(field: str) -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(**{field: "NOPE"})
