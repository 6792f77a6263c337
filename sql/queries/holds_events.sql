-- Whether the pipeline has stored anything yet: a fresh start must not overwrite it silently.
SELECT EXISTS (SELECT 1 FROM raw_data.clickstream_events)
    OR EXISTS (SELECT 1 FROM raw_data.dead_letters) AS holds_events
