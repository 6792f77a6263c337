-- Dead letters first stored in the range.
SELECT count(*) AS "Dead letters"
FROM raw_data.dead_letters
WHERE $__timeFilter(received_at)
