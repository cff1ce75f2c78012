-- Historical orders as `order_placed` events, for the `orders` preset (key: order_id).
-- Expects the reference warehouse table `orders` documented in README.md ("Warehouse schema").
-- Copy and adapt: rename columns with AS so the preset finds them, or write a mapping file.
-- :since and :until are bound by --since/--until (or the Airflow data interval): [since, until).
SELECT
    o.order_id,
    o.customer_id,
    o.anonymous_id,
    o.ordered_at,
    o.total_amount AS total,
    o.currency,
    o.item_count AS items,
    o.status,
    o.email
FROM orders AS o
WHERE o.ordered_at >= :since
  AND o.ordered_at < :until
ORDER BY o.order_id
