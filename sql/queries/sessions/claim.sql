-- Up to %(limit)s touched session ids, taken off the list for this transaction. Rows a sink
-- transaction is still writing are skipped (they are claimed next time, with their events), so a
-- refresher never waits for a sink and never deadlocks with one.
DELETE FROM analytics.sessions_touched
WHERE session_id IN (
    SELECT session_id FROM analytics.sessions_touched
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING session_id, first_at, last_at
