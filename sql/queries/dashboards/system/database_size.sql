-- On-disk size of this database, in bytes.
SELECT pg_database_size(current_database()) AS "Database size"
