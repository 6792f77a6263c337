-- The minutes of up to %(limit)s touched batches, taken off the list for this transaction into
-- pg_temp.minutes_refresh, each once. Rows of sink transactions not yet committed are
-- invisible, so a sink never waits here; their minutes are recomputed by a later refresh.
WITH claimed AS (
    DELETE FROM analytics.minutes_touched
    WHERE batch_id IN (
        SELECT batch_id FROM analytics.minutes_touched
        ORDER BY batch_id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING minutes
)
INSERT INTO pg_temp.minutes_refresh (minute)
SELECT DISTINCT minute FROM claimed, unnest(minutes) AS minute
