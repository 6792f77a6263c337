-- Whether a database of this name exists on the server (LocalPostgres creates ico_analytics once).
SELECT 1 FROM pg_database WHERE datname = %(name)s;
