-- The 20 newest purchases (presale participations and token purchases) in the range.
SELECT c."timestamp" AS "Time", w.name AS "Project", c.conversion_type AS "Type",
       c.amount_usd AS "Amount", c.payment_method AS "Paid with"
FROM raw_data.conversions c
JOIN processed_data.ico_websites w ON w.id = c.ico_website_id
WHERE c.conversion_type IN ('presale_participate', 'token_purchase')
  AND $__timeFilter(c."timestamp") AND c.ico_website_id IN ($project)
ORDER BY c."timestamp" DESC, c.conversion_id
LIMIT 20
