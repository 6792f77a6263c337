"""One exception root, one subclass per area, so callers can catch as wide as they need."""


class IcoAnalyticsError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(IcoAnalyticsError):
    """Settings are missing or inconsistent."""


class CodecError(IcoAnalyticsError):
    """A record could not be encoded or decoded with the event schemas."""


class ValidationError(IcoAnalyticsError):
    """A decoded event breaks a business rule (range, enum, format)."""


class SinkError(IcoAnalyticsError):
    """Writing to PostgreSQL failed after all retries."""


class ServiceError(IcoAnalyticsError):
    """A local service (Kafka, schema registry, PostgreSQL) failed to start or stop."""


class DashboardError(IcoAnalyticsError):
    """A dashboard cannot be built, is out of sync, or a panel's query cannot be expanded."""
