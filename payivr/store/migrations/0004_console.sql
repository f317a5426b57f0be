-- Console accounts (agents and supervisors), their browser sessions and API tokens.
-- Passwords are scrypt hashes with a per-account salt; session and API tokens are kept
-- only as SHA-256 digests, so a copy of this database lets no one sign in.

CREATE TABLE console_accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The name is what payments and the CRM show as "Agent": no digit runs (card data).
    name            text NOT NULL UNIQUE
                    CHECK (name ~ '^[A-Za-z][A-Za-z0-9 ._''-]{0,63}$')
                    CONSTRAINT console_accounts_name_no_digits CHECK (NOT payivr_has_digit_run(name)),
    -- The softphone endpoint whose calls are this agent's, e.g. PJSIP/1001.
    endpoint        text UNIQUE CHECK (endpoint ~ '^[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@+-]{1,64}$'),
    role            text NOT NULL CHECK (role IN ('agent', 'supervisor')),
    password_hash   text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    failed_logins   integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until    timestamptz,
    disabled        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    password_set_at timestamptz NOT NULL,
    CONSTRAINT console_accounts_agent_has_endpoint CHECK (role <> 'agent' OR endpoint IS NOT NULL)
);

CREATE TABLE console_sessions (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id   bigint NOT NULL REFERENCES console_accounts (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    origin       text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX console_sessions_account ON console_sessions (account_id);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

CREATE TABLE console_api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    account_id   bigint NOT NULL REFERENCES console_accounts (id) ON DELETE CASCADE,
    label        text NOT NULL CHECK (length(label) BETWEEN 1 AND 100)
                 CONSTRAINT console_api_tokens_label_no_digits CHECK (NOT payivr_has_digit_run(label)),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX console_api_tokens_account ON console_api_tokens (account_id);
