-- Landing-page A/B experiments: each project runs one (ico_websites.landing_experiment, from
-- ico_core/ico_websites.csv). A visitor's variant follows the seed's rule on its site session id
-- (ico_core.projects.experiment_variant): the first 8 hex digits of md5('<session_id>:<experiment>')
-- as an integer, even -> A; the parity of that integer is the low bit of the digest's 4th byte.
ALTER TABLE processed_data.ico_websites ADD COLUMN landing_experiment text;

-- Per experiment and variant: visitors (site session ids seen in analytics.sessions), those who
-- signed up in any of their sessions, and the rate. On variant B's row, against A: the relative
-- lift, the pooled two-proportion z-test's z and two-sided p-value, and the 95% interval of the
-- difference in rates (B - A, unpooled). On both rows: the sample-ratio-mismatch check, the
-- chi-square test of the split against 50/50 (p < 0.001 means the assignment is broken and the
-- result is not to be trusted).
CREATE VIEW analytics.experiment_results AS
WITH visitors AS (
    SELECT w.landing_experiment AS experiment_id,
           s.ico_website_id,
           CASE WHEN get_byte(decode(md5(s.session_id::text || ':' || w.landing_experiment),
                                     'hex'), 3) % 2 = 0
                THEN 'A' ELSE 'B' END AS variant,
           bool_or(s.signed_up) AS converted
    FROM analytics.sessions s
    JOIN processed_data.ico_websites w ON w.id = s.ico_website_id
    WHERE w.landing_experiment IS NOT NULL
    GROUP BY w.landing_experiment, s.ico_website_id, s.session_id
),
arms AS (
    SELECT experiment_id, ico_website_id, variant,
           count(*) AS visitors,
           count(*) FILTER (WHERE converted) AS conversions
    FROM visitors
    GROUP BY experiment_id, ico_website_id, variant
),
paired AS (
    SELECT x.*,
           x.conversions::double precision / x.visitors AS rate,
           a.visitors AS a_visitors,
           a.conversions::double precision / a.visitors AS a_rate,
           b.visitors AS b_visitors,
           b.conversions::double precision / b.visitors AS b_rate,
           (a.conversions + b.conversions)::double precision / (a.visitors + b.visitors)
               AS pooled
    FROM arms x
    LEFT JOIN arms a ON a.experiment_id = x.experiment_id AND a.variant = 'A'
    LEFT JOIN arms b ON b.experiment_id = x.experiment_id AND b.variant = 'B'
),
tested AS (
    SELECT p.*,
           CASE WHEN p.variant = 'B' AND p.pooled > 0 AND p.pooled < 1 THEN
               (p.b_rate - p.a_rate)
               / sqrt(p.pooled * (1 - p.pooled) * (1.0 / p.a_visitors + 1.0 / p.b_visitors))
           END AS z,
           CASE WHEN p.variant = 'B' THEN
               1.959963984540054 * sqrt(p.a_rate * (1 - p.a_rate) / p.a_visitors
                                        + p.b_rate * (1 - p.b_rate) / p.b_visitors)
           END AS margin,
           (p.a_visitors - p.b_visitors)::double precision ^ 2 / (p.a_visitors + p.b_visitors)
               AS srm_chi2
    FROM paired p
)
SELECT experiment_id,
       ico_website_id,
       variant,
       visitors,
       conversions,
       rate,
       CASE WHEN variant = 'B' THEN b_rate / nullif(a_rate, 0) - 1 END AS lift,
       z AS z_score,
       erfc(abs(z) / sqrt(2.0)) AS p_value,
       CASE WHEN variant = 'B' THEN b_rate - a_rate - margin END AS diff_ci_low,
       CASE WHEN variant = 'B' THEN b_rate - a_rate + margin END AS diff_ci_high,
       erfc(sqrt(srm_chi2 / 2)) AS srm_p_value,
       erfc(sqrt(srm_chi2 / 2)) < 0.001 AS sample_ratio_mismatch
FROM tested;
