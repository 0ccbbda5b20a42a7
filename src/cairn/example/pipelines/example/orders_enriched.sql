-- Runs in DuckDB; `clean_orders` and `customers` are the Python blocks' DataFrames.
SELECT
    o.order_id,
    o.order_date,
    o.amount,
    c.customer_id,
    c.name AS customer_name,
    c.region
FROM clean_orders AS o
JOIN customers AS c USING (customer_id)
