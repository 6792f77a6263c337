"""Package data, not code: the migrations and named queries, shipped as ``ico_core.sql``."""
