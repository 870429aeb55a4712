-- The claimed session ids (join_claim).
SELECT DISTINCT key1 AS session_id FROM join_claim WHERE key1 IS NOT NULL
