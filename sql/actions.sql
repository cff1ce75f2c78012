-- Historical user actions as events named after `action`, for the `actions` preset (key: action_id).
-- Expects the reference warehouse table `actions` documented in README.md ("Warehouse schema").
-- `properties` (json/jsonb) is merged into the event's data.
-- :since and :until are bound by --since/--until (or the Airflow data interval): [since, until).
SELECT
    a.action_id,
    a.user_id,
    a.anonymous_id,
    a.action,
    a.occurred_at,
    a.properties
FROM actions AS a
WHERE a.occurred_at >= :since
  AND a.occurred_at < :until
ORDER BY a.action_id
