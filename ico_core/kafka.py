"""How every Kafka client of the project connects: one typed object, one librdkafka config.

The generator's producer, the dataflow's source and its dead-letter and alert sinks, and topic
administration all build their client configuration from ``KafkaConnection.client_config()``,
so a security setting added here reaches every client at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from ico_core.errors import ConfigError

#: A librdkafka configuration, as confluent-kafka's clients take it.
ClientConfig = dict[str, str | int | float | bool]


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Brokers and how to authenticate to them; the password prints as ``**********``."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    #: PEM file of the CA that signed the brokers' certificates (None: the system's CAs).
    ssl_ca_location: str | None = None
    #: Client certificate and key for mutual TLS.
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            raise ConfigError("Kafka needs bootstrap servers (KAFKA_BOOTSTRAP_SERVERS)")
        uses_sasl = self.security_protocol.startswith("SASL_")
        if uses_sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ConfigError(
                f"{self.security_protocol} needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD"
            )
        if not uses_sasl and self.sasl_mechanism is not None:
            raise ConfigError(
                f"KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL is "
                f"{self.security_protocol}; use SASL_SSL (or SASL_PLAINTEXT)"
            )

    @property
    def brokers(self) -> list[str]:
        return [b.strip() for b in self.bootstrap_servers.split(",") if b.strip()]

    def client_config(self) -> ClientConfig:
        """librdkafka settings shared by every producer, consumer and admin client."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.security_config()}

    def security_config(self) -> dict[str, str]:
        """How to authenticate, without the brokers: for clients that take those separately
        (Bytewax's ``KafkaSink``)."""
        config = {"security.protocol": self.security_protocol.value}
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password and self.sasl_password.get_secret_value(),
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
        }
        config.update({key: str(value) for key, value in optional.items() if value})
        return config
