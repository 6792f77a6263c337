-- When each dead letter was first stored, so dashboards and alerts can count them over time.
-- A replayed dead letter keeps its first time: the sink's merge sets only the columns its rows
-- carry, and this one is not among them.
ALTER TABLE raw_data.dead_letters ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX dead_letters_received_at_idx ON raw_data.dead_letters (received_at);
