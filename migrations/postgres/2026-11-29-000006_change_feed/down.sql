DROP INDEX incidents_updated_idx;
DROP TABLE changes;
