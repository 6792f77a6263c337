"""Synthetic ICO website traffic: visitor sessions walking the funnel, with injected faults.

``EventGenerator`` yields ``GeneratedEvent`` values; ``paced`` holds them to a wall-clock rate,
``to_wire`` encodes them for Kafka and ``JsonlWriter`` records the ground truth.
"""
