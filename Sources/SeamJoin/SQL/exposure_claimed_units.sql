-- The claimed experiment x unit pairs (join_claim), forced when any of their items was.
SELECT key1 AS experiment_key, key2 AS unit_id, bool_or(forced) AS forced FROM join_claim GROUP BY key1, key2
