-- The page load panels spent nearly all their time in page_load_percentile (0018), not in
-- reading the histograms: ~350 ms for 20 projects at every range, 1 h included. Each call cut
-- its 180 bucket counts out of the histogram's text with substr, recomputing that text (and
-- lpad) for each bucket, and in a UTF8 database substr on text walks the characters from the
-- start (a multibyte encoding), ~1,000 steps per cut; then a window and subqueries per call,
-- and three calls (p50, p95, p99) per panel row. Measured on 60 histograms: 2.5 s for three
-- percentiles each, against 0.1 s for this function.
-- page_load_percentiles takes the digits once, as bytea (substr by byte offset), and answers
-- several quantiles in one pass; page_load_percentile is now a call of it, with the same
-- values as before.
CREATE FUNCTION analytics.page_load_percentiles(histogram numeric, qs double precision[])
RETURNS double precision[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    digits constant bytea := convert_to(lpad(histogram::text, 2160, '0'), 'SQL_ASCII');
    upto bigint[] := array_fill(0::bigint, ARRAY[180]);  -- upto[i + 1]: values in buckets 0..i
    total bigint := 0;
    answers double precision[] := '{}';
    q double precision;
    k double precision;
    lo integer;
    hi integer;
    lo_mid double precision;
    hi_mid double precision;
BEGIN
    FOR i IN 0..179 LOOP
        -- bucket i: the 12 digits at 10^(12 i)
        total := total + encode(substr(digits, 2149 - 12 * i, 12), 'escape')::bigint;
        upto[i + 1] := total;
    END LOOP;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    FOREACH q IN ARRAY qs LOOP
        -- the buckets of the values of (0-based) ranks floor(k) and ceil(k), interpolated
        -- between their geometric middles as percentile_cont would between the values
        k := q * (total - 1);
        lo := 0;
        WHILE upto[lo + 1] <= floor(k) LOOP
            lo := lo + 1;
        END LOOP;
        hi := lo;
        WHILE upto[hi + 1] <= ceil(k) LOOP
            hi := hi + 1;
        END LOOP;
        lo_mid := CASE WHEN lo = 0 THEN 0.005 ELSE 0.01 * 1.05 ^ (lo - 0.5) END;
        hi_mid := CASE WHEN hi = 0 THEN 0.005 ELSE 0.01 * 1.05 ^ (hi - 0.5) END;
        answers := answers || (lo_mid + (hi_mid - lo_mid) * (k - floor(k)));
    END LOOP;
    RETURN answers;
END;
$$;

CREATE OR REPLACE FUNCTION analytics.page_load_percentile(histogram numeric, q double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (analytics.page_load_percentiles(histogram, ARRAY[q]))[1];
