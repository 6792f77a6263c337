-- The minutes of event time a sink batch stored events in; run in the batch's transaction, so a
-- refresher that claims the row sees the events.
INSERT INTO analytics.minutes_touched (minutes) VALUES (%(minutes)s::timestamptz[])
