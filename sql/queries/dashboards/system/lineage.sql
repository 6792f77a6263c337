-- Which step writes which table from which source.
SELECT source_table AS "Source", target_table AS "Target",
       transformation AS "Transformation", "timestamp" AS "Registered"
FROM analytics.data_lineage
ORDER BY target_table, source_table
