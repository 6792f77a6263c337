-- A table's columns in order, for the PostgreSQL sink: name, type (as COPY BINARY names it,
-- and as a cast to it is written), whether it holds JSON (dict and list values are then sent as
-- JSON) and whether it is part of the primary key (upsert target).
SELECT n.nspname, c.relname, a.attname,
       a.atttypid::regtype::text AS type_name,
       format_type(a.atttypid, a.atttypmod) AS type_sql,
       a.atttypid IN ('json'::regtype, 'jsonb'::regtype) AS is_json,
       coalesce(a.attnum = ANY (i.indkey), false) AS in_primary_key
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.oid = %(table)s::regclass
ORDER BY a.attnum;
