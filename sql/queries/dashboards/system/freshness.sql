-- Seconds between now and the newest stored event of each kind (event time; looks back a day
-- so the partitioned tables are scanned only where recent rows live).
SELECT 'Clickstream' AS "Kind",
       extract(epoch FROM now() - max("timestamp")) AS "Seconds behind"
FROM raw_data.clickstream_events WHERE "timestamp" > now() - interval '1 day'
UNION ALL
SELECT 'Registrations', extract(epoch FROM now() - max("timestamp"))
FROM raw_data.user_registrations WHERE "timestamp" > now() - interval '1 day'
UNION ALL
SELECT 'Conversions', extract(epoch FROM now() - max("timestamp"))
FROM raw_data.conversions WHERE "timestamp" > now() - interval '1 day'
