-- The result stays in the warehouse as the table `revenue_by_region`.
WITH monthly AS (
    SELECT region, date_trunc('month', order_date) AS month, amount
    FROM {{ ref('orders_enriched') }}
)
SELECT
    region,
    count(*) AS orders,
    round(sum(amount), 2) AS revenue,
    round(avg(amount), 2) AS average_order,
    count(DISTINCT month) AS active_months
FROM monthly
GROUP BY region
ORDER BY revenue DESC
