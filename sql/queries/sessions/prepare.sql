-- The refresher connection's working table: the session ids one refresh claimed, the event-time
-- range of their new events, and the range their events are read from.
CREATE TEMP TABLE IF NOT EXISTS sessions_refresh (
    session_id  uuid PRIMARY KEY,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    read_from   timestamptz NOT NULL,
    read_to     timestamptz NOT NULL
) ON COMMIT DELETE ROWS
