"""One exception root, one subclass per area, so callers can catch as wide as they need."""


class IcoAnalyticsError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(IcoAnalyticsError):
    """Settings are missing or inconsistent."""


class CodecError(IcoAnalyticsError):
    """A record could not be encoded or decoded with the event schemas."""


class SchemaRegistryUnavailable(IcoAnalyticsError):
    """The schema registry did not answer within the retry deadline (not a fault of the data)."""


class SinkError(IcoAnalyticsError):
    """Writing to PostgreSQL failed after all retries."""


class ServiceError(IcoAnalyticsError):
    """A service (Kafka, schema registry, PostgreSQL) failed to start, stop or do what was asked."""


class DashboardError(IcoAnalyticsError):
    """A dashboard cannot be built, is out of sync, or a panel's query cannot be expanded."""


class ClusterError(IcoAnalyticsError):
    """The release on Kubernetes is not as expected, or an operation on it did not finish."""
