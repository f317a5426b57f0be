-- Refunds and voids of approved payments (issue 17). Each is written before the gateway is
-- asked (its id is the idempotency key), then settled with the gateway's answer; a pending
-- or unknown one still counts against what can be given back.

CREATE TABLE payment_reversals (
    id                uuid PRIMARY KEY,
    payment_id        uuid NOT NULL REFERENCES payments (id),
    kind              text NOT NULL CHECK (kind IN ('void', 'refund')),
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'declined', 'failed', 'unknown')),
    actor             text NOT NULL CONSTRAINT payment_reversals_actor_no_digits CHECK (NOT payivr_has_digit_run(actor)),
    reason            text CONSTRAINT payment_reversals_reason_no_digits CHECK (NOT payivr_has_digit_run(reason)),
    gateway_reference text,
    created_at        timestamptz NOT NULL,
    finished_at       timestamptz
);

CREATE INDEX payment_reversals_payment ON payment_reversals (payment_id, created_at);

-- The CRM hears of each approved refund or void too: one activity per reversal and endpoint
-- besides the payment's own outcome.
ALTER TABLE crm_outbox ADD COLUMN reversal_id uuid REFERENCES payment_reversals (id);
ALTER TABLE crm_outbox DROP CONSTRAINT crm_outbox_one_activity_and_one_correction;
CREATE UNIQUE INDEX crm_outbox_one_activity_and_one_correction
    ON crm_outbox (payment_id, endpoint, correction) WHERE reversal_id IS NULL;
CREATE UNIQUE INDEX crm_outbox_one_reversal ON crm_outbox (reversal_id, endpoint)
    WHERE reversal_id IS NOT NULL;
