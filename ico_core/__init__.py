"""The ground floor of ico-analytics: the contracts every other part builds on.

Event types and Avro codec, business rules, topics, the 20 projects, settings, errors and
database access. Nothing here imports ``generator``, ``dataflows`` or ``ico_analytics``; see
``docs/architecture.md`` for the floors and what may import what.
"""

__version__ = "0.1.0"
