-- CRM outbox: each payment outcome's activity, written in the same transaction as the
-- payment, delivered at least once per endpoint, in order of creation, with a stable id.

CREATE TABLE crm_endpoints (
    name            text PRIMARY KEY,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_at     timestamptz,
    disabled_reason text
);

CREATE TABLE crm_outbox (
    id               uuid PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    endpoint         text NOT NULL,
    payment_id       uuid NOT NULL REFERENCES payments (id),
    activity         jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz NOT NULL,
    delivered_at     timestamptz,
    last_error       text CONSTRAINT crm_outbox_last_error_no_digits CHECK (NOT payivr_has_digit_run(last_error)),
    UNIQUE (payment_id, endpoint)
);

CREATE INDEX crm_outbox_pending ON crm_outbox (endpoint, seq) WHERE status = 'pending';
CREATE INDEX crm_outbox_created_at ON crm_outbox (created_at DESC);
