-- Cards on file and bank (ACH) payments.
--
-- A card on file is the gateway's token plus what the gateway says of the card: brand,
-- last four, expiry month and year. Never the card number or security code: the token
-- replaces the PAN, and an expiry date is cardholder data to protect only when it is
-- stored with the PAN (PCI DSS v4, requirement 3 applicability table), which payivr never
-- holds. Each card belongs to a customer, known by caller number and/or CRM record id.

CREATE TABLE cards_on_file (
    id             uuid PRIMARY KEY,
    caller_number  text CHECK (length(caller_number) BETWEEN 1 AND 64)
                   CONSTRAINT cards_on_file_caller_number_no_pan CHECK (NOT payivr_has_pan(caller_number)),
    crm_record_id  text CHECK (length(crm_record_id) BETWEEN 1 AND 200)
                   CONSTRAINT cards_on_file_crm_record_id_no_pan CHECK (NOT payivr_has_pan(crm_record_id)),
    gateway_token  text NOT NULL UNIQUE CHECK (length(gateway_token) BETWEEN 1 AND 255)
                   CONSTRAINT cards_on_file_gateway_token_no_pan CHECK (NOT payivr_has_pan(gateway_token)),
    brand          text NOT NULL CHECK (brand ~ '^[a-z]{2,20}$'),
    last_four      char(4) NOT NULL CHECK (last_four ~ '^[0-9]{4}$'),
    expiry_month   smallint CHECK (expiry_month BETWEEN 1 AND 12),
    expiry_year    smallint CHECK (expiry_year BETWEEN 2000 AND 2100),
    payment_id     uuid REFERENCES payments (id),
    created_at     timestamptz NOT NULL,
    CONSTRAINT cards_on_file_has_customer CHECK (caller_number IS NOT NULL OR crm_record_id IS NOT NULL),
    CONSTRAINT cards_on_file_whole_expiry CHECK ((expiry_month IS NULL) = (expiry_year IS NULL))
);

CREATE INDEX cards_on_file_by_caller_number ON cards_on_file (caller_number, created_at DESC)
    WHERE caller_number IS NOT NULL;
CREATE INDEX cards_on_file_by_crm_record_id ON cards_on_file (crm_record_id, created_at DESC)
    WHERE crm_record_id IS NOT NULL;

-- Bank payments: the method, the bank steps, and what may be kept of the account (its
-- type and last two digits; never the routing or account number). A step column is NULL
-- when the step is not part of the payment's method.
ALTER TABLE payments
    ADD COLUMN payment_method text NOT NULL DEFAULT 'card' CHECK (payment_method IN ('card', 'ach')),
    ADD COLUMN step_routing_number text,
    ADD COLUMN step_account_number text,
    ADD COLUMN step_account_type text,
    ADD COLUMN bank_account_type text CHECK (bank_account_type IN ('checking', 'savings')),
    ADD COLUMN bank_account_last_two char(2) CHECK (bank_account_last_two ~ '^[0-9]{2}$'),
    ADD CONSTRAINT payments_bank_step_statuses CHECK (
        step_routing_number IN ('waiting', 'entering', 'done', 'failed', 'skipped') AND
        step_account_number IN ('waiting', 'entering', 'done', 'failed', 'skipped') AND
        step_account_type   IN ('waiting', 'entering', 'done', 'failed', 'skipped')),
    ALTER COLUMN step_card_number DROP NOT NULL,
    ALTER COLUMN step_expiry DROP NOT NULL,
    ALTER COLUMN step_security_code DROP NOT NULL,
    ALTER COLUMN step_postal_code DROP NOT NULL;
