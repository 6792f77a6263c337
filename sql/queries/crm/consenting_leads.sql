-- A project's consenting leads registered since a time (all when NULL), oldest first, with the
-- source of the session they signed up in (NULL until the sessions refresher has seen it): what
-- `ico-analytics crm leads` exports, the emails still sealed. Needs crm_reader.
SELECT l.registration_id::text AS registration_id,
       l.registered_at,
       l.country,
       l.kyc_completed,
       l.verification_tier,
       s.traffic_source,
       s.utm_source,
       s.utm_medium,
       s.utm_campaign,
       l.email_sealed
FROM analytics.leads l
LEFT JOIN analytics.sessions s
    ON s.session_id = l.session_id
   AND l.registered_at BETWEEN s.session_start AND s.session_end
WHERE l.ico_website_id = %(project)s
  AND l.consent_marketing
  AND l.registered_at >= coalesce(%(since)s::timestamptz, '-infinity')
ORDER BY l.registered_at, l.registration_id
