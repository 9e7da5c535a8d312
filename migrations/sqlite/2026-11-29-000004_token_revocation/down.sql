ALTER TABLE login_failures DROP COLUMN in_flight;
ALTER TABLE users DROP COLUMN token_generation;
