-- Share of visiting sessions that bought tokens (presale or sale) in the same range.
SELECT 100.0 * (
           SELECT count(DISTINCT session_id) FROM raw_data.conversions
           WHERE conversion_type IN ('presale_participate', 'token_purchase')
             AND $__timeFilter("timestamp") AND ico_website_id IN ($project)
       ) / nullif((
           SELECT count(DISTINCT session_id) FROM raw_data.clickstream_events
           WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
       ), 0) AS "Buyer conversion"
