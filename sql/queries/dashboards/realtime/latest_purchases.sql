-- The 20 newest purchases (presale participations and token purchases) in the range. The raw
-- conversions' only index by time alone is a BRIN, which cannot return them newest first, so
-- each selected project's newest 20 are read backwards from its (project, time) index and the
-- newest 20 of those kept: the same rows as sorting every purchase of the range.
SELECT c."timestamp" AS "Time", w.name AS "Project", c.conversion_type AS "Type",
       c.amount_usd AS "Amount", c.payment_method AS "Paid with"
FROM processed_data.ico_websites w
CROSS JOIN LATERAL (
    SELECT p."timestamp", p.conversion_id, p.conversion_type, p.amount_usd, p.payment_method
    FROM raw_data.conversions p
    WHERE p.ico_website_id = w.id
      AND p.conversion_type IN ('presale_participate', 'token_purchase')
      AND $__timeFilter(p."timestamp")
    ORDER BY p."timestamp" DESC, p.conversion_id
    LIMIT 20
) c
WHERE w.id IN ($project)
ORDER BY c."timestamp" DESC, c.conversion_id
LIMIT 20
