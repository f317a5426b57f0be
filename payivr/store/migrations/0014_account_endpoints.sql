-- The softphone endpoints whose calls are an agent's: an agent may have several (a desk
-- phone, a headset, the Local channel a queue rings), each endpoint names one account. payivr
-- files a *7 payment, a warm transfer and their CRM activity under the account that owns the
-- agent's channel (exact match of the endpoint, e.g. PJSIP/1001 for PJSIP/1001-0000002a).
CREATE TABLE console_account_endpoints (
    endpoint   text PRIMARY KEY
               CHECK (endpoint ~ '^[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@+-]{1,64}$'),
    account_id bigint NOT NULL REFERENCES console_accounts (id) ON DELETE CASCADE
);

CREATE INDEX console_account_endpoints_account ON console_account_endpoints (account_id);

-- An account's first endpoint (console_accounts.endpoint) is always one of its endpoints.
CREATE FUNCTION payivr_first_endpoint_listed() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.endpoint IS NOT NULL THEN
        DELETE FROM console_account_endpoints WHERE endpoint = OLD.endpoint AND account_id = OLD.id;
    END IF;
    IF NEW.endpoint IS NOT NULL THEN
        INSERT INTO console_account_endpoints (endpoint, account_id) VALUES (NEW.endpoint, NEW.id);
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER console_accounts_first_endpoint
    AFTER INSERT OR UPDATE OF endpoint ON console_accounts
    FOR EACH ROW EXECUTE FUNCTION payivr_first_endpoint_listed();

INSERT INTO console_account_endpoints (endpoint, account_id)
    SELECT endpoint, id FROM console_accounts WHERE endpoint IS NOT NULL;
