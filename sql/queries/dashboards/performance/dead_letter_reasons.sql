-- The most frequent refusals in the range. Reasons name a field and a rule; values that vary
-- per record (numbers, quoted text) are folded so that one rule is one row.
SELECT source_topic AS "Topic", stage AS "Stage",
       regexp_replace(regexp_replace(reason, '''[^'']*''', '''…''', 'g'),
                      '-?[0-9][0-9.:e+-]*', 'N', 'g') AS "Reason",
       count(*) AS "Records", max(received_at) AS "Last seen"
FROM raw_data.dead_letters
WHERE $__timeFilter(received_at)
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2, 3
LIMIT 20
