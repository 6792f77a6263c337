-- Which events of a batch one raw table already holds, and from which Kafka coordinates: the
-- batch's (id, timestamp) pairs in order, answered by their ordinal. The LATERAL ... LIMIT 1 keeps
-- the planner from hashing a whole range of the table: each pair is one primary-key probe into
-- the one daily partition its timestamp selects (run-time pruning per pair), so the cost grows
-- with the batch, not with the table or the days a batch spans. The arrays come in binary and
-- the timestamps as epoch milliseconds, as the events carry them: formatting and parsing 1,000s
-- of uuids and timestamps as text took most of the query's time (measured: StoredCopies in
-- dataflows/dedupe.py).
-- Formatted with the table and its id column.
SELECT b.i, s.source_partition, s.source_offset
FROM unnest(%(ids)b::uuid[], %(timestamps_ms)b::bigint[]) WITH ORDINALITY AS b(id, ms, i)
CROSS JOIN LATERAL (
    SELECT source_partition, source_offset
    FROM {table}
    WHERE {id} = b.id AND "timestamp" = timestamptz 'epoch' + b.ms * interval '1 millisecond'
    LIMIT 1
) AS s
