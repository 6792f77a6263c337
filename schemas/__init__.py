"""Package data, not code: the Avro event schemas, shipped as ``ico_core.schemas``."""
