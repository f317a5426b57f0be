-- Sign-in hardening (issue 13): failed sign-ins slow down the address that made them instead
-- of locking the account for everyone, API tokens expire, and accounts can be disabled.

-- Failed sign-ins per (name, address): the name need not exist, so an unknown name is
-- treated exactly like a known one (nothing to enumerate). Each failure past the free ones
-- doubles the wait before that address may try that name again.
CREATE TABLE console_login_failures (
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    address          text NOT NULL CHECK (length(address) BETWEEN 1 AND 100),
    failures         integer NOT NULL CHECK (failures > 0),
    last_failed_at   timestamptz NOT NULL,
    next_allowed_at  timestamptz NOT NULL,
    PRIMARY KEY (name, address)
);

CREATE INDEX console_login_failures_last_failed_at ON console_login_failures (last_failed_at);

-- The account-wide lockout (a weapon: anyone could lock any agent out) is gone.
ALTER TABLE console_accounts DROP COLUMN locked_until;

-- Every API token has an end; tokens made before this migration end 90 days after creation.
ALTER TABLE console_api_tokens ADD COLUMN expires_at timestamptz;
UPDATE console_api_tokens SET expires_at = created_at + interval '90 days';
ALTER TABLE console_api_tokens ALTER COLUMN expires_at SET NOT NULL;
