-- Dead letters received since a time, oldest first: what `ico-analytics dead-letters` exports.
SELECT source_topic, source_partition, source_offset, stage, reason, event_type, record_key,
       payload, received_at
FROM raw_data.dead_letters
WHERE received_at >= %(since)s
ORDER BY received_at, source_topic, source_partition, source_offset
