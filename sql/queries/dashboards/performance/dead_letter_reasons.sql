-- The most frequent refusals in the range. Reasons name a field and a rule; values that vary
-- per record (numbers, quoted text) are folded so that one rule is one row. The dead letters
-- are counted per exact reason first, so the two regular expressions run once per distinct
-- reason (a few thousand) instead of once per dead letter.
WITH by_reason AS (
    SELECT source_topic, stage, reason, count(*) AS n, max(received_at) AS last_seen
    FROM raw_data.dead_letters
    WHERE $__timeFilter(received_at)
    GROUP BY 1, 2, 3
)
SELECT source_topic AS "Topic", stage AS "Stage",
       regexp_replace(regexp_replace(reason, '''[^'']*''', '''…''', 'g'),
                      '-?[0-9][0-9.:e+-]*', 'N', 'g') AS "Reason",
       sum(n)::bigint AS "Records", max(last_seen) AS "Last seen"
FROM by_reason
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2, 3
LIMIT 20
