-- The refresher connection's working table: the session ids one refresh claimed, the event-time
-- range of their new events, and the range their events are read from.
CREATE TEMP TABLE IF NOT EXISTS sessions_refresh (
    session_id  uuid PRIMARY KEY,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    read_from   timestamptz NOT NULL,
    read_to     timestamptz NOT NULL
) ON COMMIT DELETE ROWS;

-- The (project, hour)s of the rollups (migration 0019) that this refresh's deleted and inserted
-- sessions, and the registrations of its session ids, fall in, and their days: their rollup rows
-- are recomputed at its end.
CREATE TEMP TABLE IF NOT EXISTS sessions_refresh_hours (
    ico_website_id  integer NOT NULL,
    hour            timestamptz NOT NULL,
    PRIMARY KEY (ico_website_id, hour)
) ON COMMIT DELETE ROWS;

CREATE TEMP TABLE IF NOT EXISTS sessions_refresh_days (
    ico_website_id  integer NOT NULL,
    day             timestamptz NOT NULL
) ON COMMIT DELETE ROWS
