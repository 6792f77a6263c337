-- The project picker: every project, shown by name.
SELECT id AS __value, name AS __text FROM processed_data.ico_websites ORDER BY id
