-- One console for every instance (README "Running several PBXs").
--
-- calls: each call in progress, written by the instance running it, so a console on any
-- instance finds an agent's call wherever it runs. call_commands: a console's request or
-- cancel for a call another instance runs, taken and answered by the instance running that
-- Asterisk's calls (woken by NOTIFY payivr_call_commands). Neither holds card data: a
-- request is an item, an amount and options, refused here like payments' free text.

CREATE TABLE calls (
    call_key      text PRIMARY KEY CONSTRAINT calls_call_key_no_pan CHECK (NOT payivr_has_pan(call_key)),
    agent         text CONSTRAINT calls_agent_no_pan CHECK (NOT payivr_has_pan(agent)),
    agent_endpoint text CONSTRAINT calls_agent_endpoint_no_pan CHECK (NOT payivr_has_pan(agent_endpoint)),
    caller_number text CONSTRAINT calls_caller_number_no_pan CHECK (NOT payivr_has_pan(caller_number)),
    entry         text NOT NULL CHECK (length(entry) BETWEEN 1 AND 40),
    instance      text DEFAULT payivr_session_setting('payivr.instance'),
    asterisk_id   text DEFAULT payivr_session_setting('payivr.asterisk_id'),
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz
);

CREATE INDEX calls_live_by_endpoint ON calls (agent_endpoint) WHERE ended_at IS NULL;
CREATE INDEX calls_live_by_asterisk ON calls (asterisk_id) WHERE ended_at IS NULL;

CREATE TABLE call_commands (
    id           uuid PRIMARY KEY,
    asterisk_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('request', 'cancel')),
    call_key     text CONSTRAINT call_commands_call_key_no_pan CHECK (NOT payivr_has_pan(call_key)),
    payment_id   uuid,
    request      jsonb CONSTRAINT call_commands_item_no_digits CHECK (NOT payivr_has_digit_run(request->>'item')),
    requested_by text DEFAULT payivr_session_setting('payivr.instance'),
    created_at   timestamptz NOT NULL,
    taken_by     text,
    taken_at     timestamptz,
    answer       jsonb,
    answered_at  timestamptz
);

CREATE INDEX call_commands_waiting ON call_commands (asterisk_id, created_at) WHERE taken_at IS NULL;
