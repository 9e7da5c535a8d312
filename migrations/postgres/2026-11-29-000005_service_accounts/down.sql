DROP TABLE client_request_windows;
DROP TABLE service_account_secrets;
DROP TABLE service_accounts;
ALTER TABLE users DROP COLUMN kind;
