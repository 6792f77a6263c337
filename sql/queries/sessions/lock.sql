-- One refresher at a time, for this transaction: two recomputing the same session at once could
-- each keep a version of it. With %(wait)s false, answers false instead of waiting.
SELECT CASE
    WHEN %(wait)s THEN (SELECT true FROM pg_advisory_xact_lock(%(key)s))
    ELSE pg_try_advisory_xact_lock(%(key)s)
END
