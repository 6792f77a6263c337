-- Open connections to this database by login user (the dataflow, Grafana, migrations...).
SELECT coalesce(usename, 'background') AS "User", count(*) AS "Connections"
FROM pg_stat_activity
WHERE datname = current_database()
GROUP BY 1
ORDER BY 2 DESC, 1
