-- The sessions of up to %(limit)s touched batches, taken off the list for this transaction into
-- pg_temp.sessions_refresh: each session id once, with the widest event-time range its batches
-- span. Rows of sink transactions not yet committed are invisible, so a sink never waits here.
WITH claimed AS (
    DELETE FROM analytics.sessions_touched
    WHERE batch_id IN (
        SELECT batch_id FROM analytics.sessions_touched
        ORDER BY batch_id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING session_ids, first_at, last_at
)
INSERT INTO pg_temp.sessions_refresh (session_id, first_at, last_at, read_from, read_to)
SELECT session_id, min(first_at), max(last_at), min(first_at), max(last_at)
FROM claimed, unnest(session_ids) AS session_id
GROUP BY session_id
