-- Rows the pipeline has committed, for progress and summaries.
SELECT (SELECT count(*) FROM raw_data.clickstream_events),
       (SELECT count(*) FROM raw_data.user_registrations),
       (SELECT count(*) FROM raw_data.conversions),
       (SELECT count(*) FROM raw_data.dead_letters),
       (SELECT count(*) FROM analytics.window_aggregates);
