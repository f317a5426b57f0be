-- Audit trail (PCI DSS 10.2.2): who, what, when (UTC), success or failure, origin,
-- affected resource. Append-only, enforced here rather than trusted to the application.

CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    actor        text NOT NULL CONSTRAINT audit_events_actor_no_digits CHECK (NOT payivr_has_digit_run(actor)),
    action       text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]*$'),
    success      boolean NOT NULL,
    origin_kind  text NOT NULL CHECK (origin_kind IN ('ip', 'channel', 'system')),
    origin       text NOT NULL CONSTRAINT audit_events_origin_no_pan CHECK (NOT payivr_has_pan(origin)),
    resource     text NOT NULL CONSTRAINT audit_events_resource_no_pan CHECK (NOT payivr_has_pan(resource)),
    payment_id   uuid,
    detail       text CONSTRAINT audit_events_detail_no_digits CHECK (NOT payivr_has_digit_run(detail))
);

CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_payment_id ON audit_events (payment_id) WHERE payment_id IS NOT NULL;

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
