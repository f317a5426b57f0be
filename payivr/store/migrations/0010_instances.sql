-- Several payivr instances and several Asterisks on one database (README "Running several PBXs").
--
-- Payments, calls, outbound calls and texts record which payivr instance wrote them
-- (instance.name) and which Asterisk the instance serves (its entity id, from ARI
-- /asterisk/info). payivr sets both on its sessions when it connects (libpq options
-- "-c payivr.instance=... -c payivr.asterisk_id=..."), so every insert records them without
-- each store passing them; rows written before this migration, or by a command such as
-- "payivr agent add", have none.

CREATE FUNCTION payivr_session_setting(name text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN nullif(current_setting(name, true), '');

ALTER TABLE payments
    ADD COLUMN instance text DEFAULT payivr_session_setting('payivr.instance'),
    ADD COLUMN asterisk_id text DEFAULT payivr_session_setting('payivr.asterisk_id');
ALTER TABLE outbound_calls
    ADD COLUMN instance text DEFAULT payivr_session_setting('payivr.instance'),
    ADD COLUMN asterisk_id text DEFAULT payivr_session_setting('payivr.asterisk_id');
ALTER TABLE text_payments
    ADD COLUMN instance text DEFAULT payivr_session_setting('payivr.instance'),
    ADD COLUMN asterisk_id text DEFAULT payivr_session_setting('payivr.asterisk_id');
ALTER TABLE sms_messages
    ADD COLUMN instance text DEFAULT payivr_session_setting('payivr.instance'),
    ADD COLUMN asterisk_id text DEFAULT payivr_session_setting('payivr.asterisk_id');

-- The restart recovery (and a standby taking over) settles its own Asterisk's payments only.
CREATE INDEX payments_unfinished_by_asterisk ON payments (asterisk_id, created_at)
    WHERE state <> 'finished';

-- An approval stored after another instance settled the payment as not charged corrects it
-- (PaymentStore.record_late_outcome): the CRM gets a second activity for the payment, once.
ALTER TABLE crm_outbox ADD COLUMN correction boolean NOT NULL DEFAULT false;
ALTER TABLE crm_outbox DROP CONSTRAINT crm_outbox_payment_id_endpoint_key;
ALTER TABLE crm_outbox ADD CONSTRAINT crm_outbox_one_activity_and_one_correction
    UNIQUE (payment_id, endpoint, correction);
