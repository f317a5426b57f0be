-- Outbound collection calls: one row per call payivr places for an agent, with its outcome.
--
-- The customer's number is kept whole (E.164): it is not card data, and the agent needs it
-- to call back. Logs show its last four digits only. A payment taken on the call is a
-- payment like any other (entry kind 'outbound') whose call_id is this row's call_key.

CREATE TABLE outbound_calls (
    id             uuid PRIMARY KEY,
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    call_key       text NOT NULL UNIQUE,
    agent          text NOT NULL
                   CONSTRAINT outbound_calls_agent_no_digits CHECK (NOT payivr_has_digit_run(agent)),
    agent_endpoint text NOT NULL CHECK (length(agent_endpoint) BETWEEN 1 AND 128),
    campaign       text NOT NULL CHECK (campaign ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    caller_id      text NOT NULL CHECK (length(caller_id) BETWEEN 1 AND 64),
    phone          text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    time_zone      text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    item_name      text CHECK (length(item_name) BETWEEN 1 AND 200)
                   CONSTRAINT outbound_calls_item_name_no_digits CHECK (NOT payivr_has_digit_run(item_name)),
    amount_minor   bigint CHECK (amount_minor > 0),
    currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status         text NOT NULL CHECK (status IN (
                       'ringing-agent', 'ringing-customer', 'detecting', 'connected', 'ended')),
    outcome        text CHECK (outcome IN (
                       'answered', 'busy', 'no-answer', 'unreachable', 'voicemail',
                       'agent-unavailable', 'cancelled', 'outside-hours', 'failed')),
    hangup_cause   integer,
    dial_status    text CHECK (dial_status ~ '^[A-Z]{0,20}$'),
    amd_status     text CHECK (amd_status ~ '^[A-Z]{0,20}$'),
    amd_cause      text CHECK (amd_cause ~ '^[A-Z0-9-]{0,40}$'),
    detail         text CONSTRAINT outbound_calls_detail_no_digits CHECK (NOT payivr_has_digit_run(detail)),
    created_at     timestamptz NOT NULL,
    answered_at    timestamptz,
    ended_at       timestamptz,
    CONSTRAINT outbound_calls_ended_has_outcome CHECK ((status = 'ended') = (outcome IS NOT NULL))
);

CREATE INDEX outbound_calls_by_agent ON outbound_calls (agent, created_at DESC);
CREATE INDEX outbound_calls_created_at ON outbound_calls (created_at DESC);
CREATE INDEX outbound_calls_open ON outbound_calls (created_at) WHERE status <> 'ended';
