-- Joins the R block's scores with the Python block's customers, in DuckDB.
SELECT c.customer_id, c.name, c.region, s.orders, s.spent, s.score
FROM customer_scores AS s
JOIN customers AS c USING (customer_id)
ORDER BY s.spent DESC
LIMIT 10
