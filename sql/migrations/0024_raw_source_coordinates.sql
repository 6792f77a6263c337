-- The Kafka coordinates (partition and offset) of the copy of each event that was stored. The
-- dataflow looks a batch's event ids up in the raw tables and drops a copy whose id is already
-- stored from other coordinates (a late duplicate), while a recovery replay, which re-delivers
-- the stored copy itself, finds its own coordinates and passes (dataflows/dedupe.py). The topic
-- is implied by the table. Nullable: rows stored before this migration have none, and pass.
-- Adding a nullable column without a default rewrites nothing.
ALTER TABLE raw_data.clickstream_events ADD COLUMN source_partition integer;
ALTER TABLE raw_data.clickstream_events ADD COLUMN source_offset bigint;
ALTER TABLE raw_data.user_registrations ADD COLUMN source_partition integer;
ALTER TABLE raw_data.user_registrations ADD COLUMN source_offset bigint;
ALTER TABLE raw_data.conversions ADD COLUMN source_partition integer;
ALTER TABLE raw_data.conversions ADD COLUMN source_offset bigint;
