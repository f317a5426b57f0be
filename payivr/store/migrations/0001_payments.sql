-- Payments: one row per payment request. Never a PAN, security code or expiry:
-- the card is kept as brand + last four only (PCI DSS 3.4.1).

-- Defence in depth: free text typed by people or sent by gateways must not carry
-- anything that looks like a card number (7 or more consecutive digits).
CREATE FUNCTION payivr_has_digit_run(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN value ~ '[0-9]{7,}';

-- Identifiers may hold long digit runs (Asterisk uniqueids, CRM ids, phone numbers),
-- so for them only a Luhn-valid run of 13 to 19 digits (a card number) is refused.
CREATE FUNCTION payivr_has_pan(value text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    run text;
    total int;
    digit int;
    i int;
BEGIN
    IF value IS NULL THEN
        RETURN false;
    END IF;
    FOR run IN SELECT m[1] FROM regexp_matches(value, '([0-9]{13,19})', 'g') AS m LOOP
        total := 0;
        FOR i IN 1 .. length(run) LOOP
            digit := substr(run, length(run) - i + 1, 1)::int;
            IF i % 2 = 0 THEN
                digit := digit * 2;
                IF digit > 9 THEN
                    digit := digit - 9;
                END IF;
            END IF;
            total := total + digit;
        END LOOP;
        IF total % 10 = 0 THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$;

CREATE TABLE payments (
    id                   uuid PRIMARY KEY,
    call_id              text NOT NULL CONSTRAINT payments_call_id_no_pan CHECK (NOT payivr_has_pan(call_id)),
    agent_channel        text CONSTRAINT payments_agent_channel_no_pan CHECK (NOT payivr_has_pan(agent_channel)),
    agent                text NOT NULL CONSTRAINT payments_agent_no_digits CHECK (NOT payivr_has_digit_run(agent)),
    item_name            text NOT NULL CONSTRAINT payments_item_name_no_digits CHECK (NOT payivr_has_digit_run(item_name)),
    amount_minor         bigint NOT NULL CHECK (amount_minor >= 0),
    currency             char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    privacy_mode         text NOT NULL CHECK (privacy_mode IN ('hold', 'talk_through')),
    entry_kind           text NOT NULL CHECK (entry_kind IN ('takeover', 'inbound', 'payline', 'transfer', 'outbound')),
    state                text NOT NULL CHECK (state IN ('requested', 'collecting', 'authorizing', 'finished')),
    step_amount          text NOT NULL DEFAULT 'waiting',
    step_card_number     text NOT NULL DEFAULT 'waiting',
    step_expiry          text NOT NULL DEFAULT 'waiting',
    step_security_code   text NOT NULL DEFAULT 'waiting',
    step_postal_code     text NOT NULL DEFAULT 'waiting',
    brand                text CHECK (brand ~ '^[a-z]{2,20}$'),
    last_four            char(4) CHECK (last_four ~ '^[0-9]{4}$'),
    gateway_reference    text CONSTRAINT payments_gateway_reference_no_pan CHECK (NOT payivr_has_pan(gateway_reference)),
    idempotency_key      text NOT NULL UNIQUE,
    outcome              text CHECK (outcome IN (
                             'approved', 'declined', 'declined_by_caller', 'cancelled',
                             'agent_cancelled', 'attempts_exhausted', 'timed_out',
                             'caller_hung_up', 'gateway_error', 'pending')),
    reason               text CONSTRAINT payments_reason_no_digits CHECK (NOT payivr_has_digit_run(reason)),
    needs_reconciliation boolean NOT NULL DEFAULT false,
    crm_record_id        text CONSTRAINT payments_crm_record_id_no_pan CHECK (NOT payivr_has_pan(crm_record_id)),
    caller_number        text CHECK (length(caller_number) <= 64),
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    finished_at          timestamptz,
    CONSTRAINT payments_step_statuses CHECK (
        step_amount        IN ('waiting', 'entering', 'done', 'failed', 'skipped') AND
        step_card_number   IN ('waiting', 'entering', 'done', 'failed', 'skipped') AND
        step_expiry        IN ('waiting', 'entering', 'done', 'failed', 'skipped') AND
        step_security_code IN ('waiting', 'entering', 'done', 'failed', 'skipped') AND
        step_postal_code   IN ('waiting', 'entering', 'done', 'failed', 'skipped')),
    CONSTRAINT payments_finished_has_outcome CHECK (
        (state = 'finished') = (finished_at IS NOT NULL)
        AND (state <> 'finished' OR (outcome IS NOT NULL AND outcome <> 'pending')))
);

CREATE INDEX payments_created_at ON payments (created_at DESC);
CREATE INDEX payments_agent_created_at ON payments (agent, created_at DESC);
CREATE INDEX payments_unfinished ON payments (created_at) WHERE state <> 'finished';
