-- Seconds between now and the newest stored event of each kind (event time; looks back a day).
-- The newest event is taken per project from the (project, time) index, a few index reads
-- instead of scanning the day.
SELECT 'Clickstream' AS "Kind", extract(epoch FROM now() - max(n.newest)) AS "Seconds behind"
FROM processed_data.ico_websites w
CROSS JOIN LATERAL (
    SELECT max("timestamp") AS newest FROM raw_data.clickstream_events
    WHERE ico_website_id = w.id AND "timestamp" > now() - interval '1 day'
) n
UNION ALL
SELECT 'Registrations', extract(epoch FROM now() - max(n.newest))
FROM processed_data.ico_websites w
CROSS JOIN LATERAL (
    SELECT max("timestamp") AS newest FROM raw_data.user_registrations
    WHERE ico_website_id = w.id AND "timestamp" > now() - interval '1 day'
) n
UNION ALL
SELECT 'Conversions', extract(epoch FROM now() - max(n.newest))
FROM processed_data.ico_websites w
CROSS JOIN LATERAL (
    SELECT max("timestamp") AS newest FROM raw_data.conversions
    WHERE ico_website_id = w.id AND "timestamp" > now() - interval '1 day'
) n
