-- One project of ico_core/ico_websites.csv (ico_core.projects). Unchanged rows are left alone, so re-running
-- migrate() writes nothing.
INSERT INTO processed_data.ico_websites AS w
    (id, name, token_symbol, domain, category, target_raise_usd, token_price_usd, launch_date,
     country, landing_experiment)
VALUES (%(id)s, %(name)s, %(token_symbol)s, %(domain)s, %(category)s, %(target_raise_usd)s,
        %(token_price_usd)s, %(launch_date)s, %(country)s, %(landing_experiment)s)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name,
    token_symbol = EXCLUDED.token_symbol,
    domain = EXCLUDED.domain,
    category = EXCLUDED.category,
    target_raise_usd = EXCLUDED.target_raise_usd,
    token_price_usd = EXCLUDED.token_price_usd,
    launch_date = EXCLUDED.launch_date,
    country = EXCLUDED.country,
    landing_experiment = EXCLUDED.landing_experiment
WHERE (w.name, w.token_symbol, w.domain, w.category, w.target_raise_usd, w.token_price_usd,
       w.launch_date, w.country, w.landing_experiment)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.token_symbol, EXCLUDED.domain, EXCLUDED.category,
       EXCLUDED.target_raise_usd, EXCLUDED.token_price_usd, EXCLUDED.launch_date,
       EXCLUDED.country, EXCLUDED.landing_experiment);
