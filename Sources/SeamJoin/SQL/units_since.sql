-- The claimed units (join_claim) and the time from which their events can see the change:
-- the change's time, but not before :'horizon' ago unless forced (seam join rebuild).
SELECT key1 AS unit_id,
       CASE WHEN bool_or(forced) THEN min(at) ELSE greatest(min(at), now() - :'horizon'::interval) END AS since,
       bool_or(forced) AS forced
FROM join_claim GROUP BY key1
