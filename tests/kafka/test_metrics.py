"""Consumer lag and the pipeline's own counters on Bytewax's ``/metrics`` endpoint."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ico_analytics.services.dataflow import DataflowCluster, stack_env
from tests.kafka.stack import Dataset, KafkaStack

LAG = re.compile(r"^bytewax_kafka_consumer_lag\{([^}]*)\} (\S+)$", re.M)


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else -1.0


@pytest.mark.kafka
def test_lag_falls_to_zero_and_counters_match(
    kafka_stack: KafkaStack, dataset: Dataset, migrated_database_url: str, tmp_path: Path
) -> None:
    cluster = DataflowCluster(
        stack_env(kafka_stack.bootstrap, kafka_stack.registry_url, migrated_database_url),
        tmp_path / "logs",
        tmp_path / "recovery",
        snapshot_seconds=1,
    )
    cluster.start(1)  # tails the topics: the lag gauge is what says it caught up
    try:
        decoded_expected = sum(len(ids) for ids in dataset.expected.raw_ids.values())
        deadline, text, lags = time.monotonic() + 300, "", {}
        dead = decoded = dead_validate = duplicates = 0.0
        while time.monotonic() < deadline:
            time.sleep(1)
            texts = cluster.metrics()
            if texts is None:
                continue
            (text,) = texts
            lags = {labels: float(value) for labels, value in LAG.findall(text)}
            dead_decode, dead_validate = (
                _sample(text, f'ico_dataflow_dead_letters_total\\{{stage="{stage}"\\}}')
                for stage in ("decode", "validate")
            )
            dead = dead_decode + dead_validate
            decoded = _sample(text, "ico_dataflow_events_decoded_total")
            # Copies in flight are dropped by the keyed state, those whose first copy was
            # already committed by the raw-table look-up.
            duplicates = _sample(text, "ico_dataflow_duplicates_dropped_total") + _sample(
                text, "ico_dataflow_late_duplicates_dropped_total"
            )
            # Lag 0 says every record was read; the counters say it was processed too.
            if (
                len(lags) == 12
                and not any(lags.values())
                and dead == dataset.expected.dead_letters
                and decoded - dead_validate - duplicates == decoded_expected
            ):
                break
        # One gauge per topic partition (6 + 3 + 3), all caught up.
        assert len(lags) == 12, text[-3000:]
        assert all(value == 0 for value in lags.values()), lags
        assert any('topic="clickstream-events"' in labels for labels in lags)
        # Every record was decoded or dead-lettered; decoded ones include the dropped duplicates.
        assert dead == dataset.expected.dead_letters
        assert duplicates > 0
        assert decoded - dead_validate - duplicates == decoded_expected
    finally:
        cluster.kill()
