-- SMS: pay by text with a card on file, payment reminders, opt-outs, and every message.
--
-- Phone numbers are E.164 (+ and 7 to 15 digits). Message bodies never hold card data:
-- payivr's own texts name the card by brand and last four only, and digit runs in a
-- customer's text are removed before it is stored (someone may text their card number).

-- A text payment is a payment like any other (history, audit, CRM): entry kind 'text'.
ALTER TABLE payments DROP CONSTRAINT payments_entry_kind_check;
ALTER TABLE payments ADD CONSTRAINT payments_entry_kind_check
    CHECK (entry_kind IN ('takeover', 'inbound', 'payline', 'transfer', 'outbound', 'text'));

CREATE TABLE sms_opt_outs (
    phone        text PRIMARY KEY CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    keyword      text NOT NULL CHECK (keyword ~ '^[A-Z]{1,20}$'),
    opted_out_at timestamptz NOT NULL
);

CREATE TABLE sms_reminders (
    id                uuid PRIMARY KEY,
    customer          text NOT NULL CHECK (length(customer) BETWEEN 1 AND 200)
                      CONSTRAINT sms_reminders_customer_no_pan CHECK (NOT payivr_has_pan(customer)),
    phone             text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    currency          char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    item_name         text NOT NULL CHECK (length(item_name) BETWEEN 1 AND 200)
                      CONSTRAINT sms_reminders_item_name_no_digits CHECK (NOT payivr_has_digit_run(item_name)),
    due_date          date NOT NULL,
    time_zone         text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    send_on           date NOT NULL,
    send_at           timestamptz NOT NULL,
    offer_pay_by_text boolean NOT NULL DEFAULT false,
    agent             text NOT NULL
                      CONSTRAINT sms_reminders_agent_no_digits CHECK (NOT payivr_has_digit_run(agent)),
    status            text NOT NULL DEFAULT 'scheduled'
                      CHECK (status IN ('scheduled', 'sent', 'suppressed', 'missed', 'cancelled')),
    message_id        uuid,
    created_at        timestamptz NOT NULL,
    sent_at           timestamptz,
    CONSTRAINT sms_reminders_once_per_due_date UNIQUE (customer, due_date)
);

CREATE INDEX sms_reminders_due ON sms_reminders (send_at) WHERE status = 'scheduled';
CREATE INDEX sms_reminders_send_on ON sms_reminders (send_on) WHERE status <> 'cancelled';
CREATE INDEX sms_reminders_phone ON sms_reminders (phone, sent_at DESC) WHERE status = 'sent';
CREATE INDEX sms_reminders_created_at ON sms_reminders (created_at DESC);

-- One row per text payment; its id is the payment's id, which is also the gateway
-- idempotency key (stored before the charge: the same YES twice never charges twice).
CREATE TABLE text_payments (
    payment_id        uuid PRIMARY KEY REFERENCES payments (id),
    seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    phone             text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    customer          text NOT NULL CHECK (length(customer) BETWEEN 1 AND 200)
                      CONSTRAINT text_payments_customer_no_pan CHECK (NOT payivr_has_pan(customer)),
    card_on_file_id   uuid REFERENCES cards_on_file (id) ON DELETE SET NULL,
    reminder_id       uuid REFERENCES sms_reminders (id),
    state             text NOT NULL CHECK (state IN (
                          'asked', 'charging', 'unknown', 'paid', 'declined', 'refused',
                          'expired', 'failed', 'undelivered')),
    expires_at        timestamptz NOT NULL,
    gateway_reference text CONSTRAINT text_payments_gateway_reference_no_pan
                      CHECK (NOT payivr_has_pan(gateway_reference)),
    reason            text CONSTRAINT text_payments_reason_no_digits CHECK (NOT payivr_has_digit_run(reason)),
    late_reply_answered boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    finished_at       timestamptz
);

-- A reply is matched to the number's open request: at most one may wait for an answer.
CREATE UNIQUE INDEX text_payments_one_open_per_phone ON text_payments (phone) WHERE state = 'asked';
CREATE INDEX text_payments_phone ON text_payments (phone, created_at DESC);
CREATE INDEX text_payments_open ON text_payments (expires_at) WHERE state IN ('asked', 'charging', 'unknown');
CREATE UNIQUE INDEX text_payments_once_per_reminder ON text_payments (reminder_id) WHERE reminder_id IS NOT NULL;

-- Every text, in and out. An outbound message's id is its idempotency key at the provider.
CREATE TABLE sms_messages (
    id                  uuid PRIMARY KEY,
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    direction           text NOT NULL CHECK (direction IN ('out', 'in')),
    phone               text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    kind                text NOT NULL CHECK (kind IN (
                            'ask', 'receipt', 'declined', 'refused', 'expired', 'failed',
                            'confirming', 'reminder', 'opted_out', 'opted_in', 'help',
                            'no_payment', 'reply')),
    body                text NOT NULL CHECK (length(body) <= 1600)
                        CONSTRAINT sms_messages_body_no_pan CHECK (NOT payivr_has_pan(body)),
    status              text NOT NULL CHECK (status IN (
                            'queued', 'sent', 'delivered', 'failed', 'suppressed', 'received',
                            'processed')),
    provider_message_id text CHECK (length(provider_message_id) BETWEEN 1 AND 200),
    text_payment_id     uuid REFERENCES text_payments (payment_id),
    reminder_id         uuid REFERENCES sms_reminders (id),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,
    last_error          text CONSTRAINT sms_messages_last_error_no_digits CHECK (NOT payivr_has_digit_run(last_error)),
    created_at          timestamptz NOT NULL,
    sent_at             timestamptz,
    delivered_at        timestamptz,
    CONSTRAINT sms_messages_provider_id_once UNIQUE (direction, provider_message_id)
);

CREATE INDEX sms_messages_queued ON sms_messages (next_attempt_at) WHERE status = 'queued';
CREATE INDEX sms_messages_unprocessed ON sms_messages (created_at) WHERE status = 'received';
CREATE INDEX sms_messages_phone ON sms_messages (phone, created_at DESC);
CREATE INDEX sms_messages_text_payment ON sms_messages (text_payment_id) WHERE text_payment_id IS NOT NULL;

-- Replay protection for the provider's signed webhooks: a webhook-id is taken once.
-- Ids older than the signature tolerance can go: their timestamps no longer verify.
CREATE TABLE sms_webhook_ids (
    webhook_id  text PRIMARY KEY CHECK (length(webhook_id) BETWEEN 1 AND 200),
    received_at timestamptz NOT NULL
);
