-- A contextual bandit's data: the decisions services post (OTLP log records named
-- bandit.decision, validated when they are acknowledged: see SeamOTLP/Mapping/BanditDecision.swift),
-- the reward each earns from the outcomes that follow it, and off-policy estimates.

CREATE TABLE lake.decisions (
    decision_id         bytea            PRIMARY KEY CHECK (octet_length(decision_id) = 16),
    decided_at          timestamptz      NOT NULL,
    bandit_key          text             NOT NULL,
    event_id            text             NOT NULL,
    unit_id             text             NOT NULL,
    unit_type           text             NOT NULL CHECK (unit_type IN ('unit', 'user', 'session')),
    session_id          text,
    user_id             text,
    trace_id            bytea,
    context             jsonb            NOT NULL,
    actions             text[]           NOT NULL,
    probabilities       double precision[] NOT NULL,
    chosen_action       text             NOT NULL,
    chosen_index        integer          NOT NULL,
    chosen_probability  double precision NOT NULL CHECK (chosen_probability > 0 AND chosen_probability <= 1),
    received_at         timestamptz      NOT NULL,
    CHECK (cardinality(actions) = cardinality(probabilities))
);
CREATE INDEX decisions_bandit_idx ON lake.decisions (bandit_key, decided_at);
CREATE INDEX decisions_unit_idx ON lake.decisions (unit_id, decided_at);

COMMENT ON TABLE lake.decisions IS 'One row per bandit decision: an OTLP log record named bandit.decision (lake.logs), with its context, the feasible actions, the chosen one and the logging policy''s probabilities. Written as the log record is stored; a record stored twice is one decision.';
COMMENT ON COLUMN lake.decisions.decision_id IS 'The log record''s id (lake.logs.log_id, a content digest).';
COMMENT ON COLUMN lake.decisions.decided_at IS 'The log record''s time. UTC.';
COMMENT ON COLUMN lake.decisions.bandit_key IS 'Which bandit decided (attribute bandit.key).';
COMMENT ON COLUMN lake.decisions.event_id IS 'The service''s id of the decision (bandit.event_id), else the hex of decision_id; DSJSON''s EventId.';
COMMENT ON COLUMN lake.decisions.unit_id IS 'Whose outcomes reward the decision: bandit.unit.id, else the user id (enduser.id, user.id), else the session id.';
COMMENT ON COLUMN lake.decisions.unit_type IS 'unit (bandit.unit.id), user or session.';
COMMENT ON COLUMN lake.decisions.session_id IS 'session.id of the record, as for exposures.';
COMMENT ON COLUMN lake.decisions.user_id IS 'enduser.id (or user.id) of the record.';
COMMENT ON COLUMN lake.decisions.trace_id IS 'The trace the decision was made in.';
COMMENT ON COLUMN lake.decisions.context IS 'Context features (bandit.context), a JSON object.';
COMMENT ON COLUMN lake.decisions.actions IS 'The feasible actions, in the order the service listed them.';
COMMENT ON COLUMN lake.decisions.probabilities IS 'The logging policy''s probability of each action, in the order of actions; they sum to 1.';
COMMENT ON COLUMN lake.decisions.chosen_action IS 'The action taken.';
COMMENT ON COLUMN lake.decisions.chosen_index IS 'Its position in actions, from 0 (DSJSON''s _labelIndex).';
COMMENT ON COLUMN lake.decisions.chosen_probability IS 'Its probability under the logging policy (DSJSON''s _label_probability); > 0.';
COMMENT ON COLUMN lake.decisions.received_at IS 'When Seam received the log record.';

CREATE FUNCTION seam_meta.decisions_from_logs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lake.decisions
    SELECT l.log_id, l.time, l.attributes ->> 'bandit.key',
           coalesce(l.attributes ->> 'bandit.event_id', encode(l.log_id, 'hex')),
           coalesce(l.attributes ->> 'bandit.unit.id', l.user_id, l.session_id),
           CASE WHEN l.attributes ? 'bandit.unit.id' THEN 'unit' WHEN l.user_id IS NOT NULL THEN 'user' ELSE 'session' END,
           l.session_id, l.user_id, l.trace_id,
           CASE jsonb_typeof(l.attributes -> 'bandit.context')
               WHEN 'object' THEN l.attributes -> 'bandit.context'
               WHEN 'string' THEN (l.attributes ->> 'bandit.context')::jsonb
               ELSE '{}'::jsonb END,
           a.actions, p.probabilities, l.attributes ->> 'bandit.action',
           array_position(a.actions, l.attributes ->> 'bandit.action') - 1,
           p.probabilities[array_position(a.actions, l.attributes ->> 'bandit.action')],
           l.received_at
    FROM new_rows AS l
    CROSS JOIN LATERAL (
        SELECT array_agg(x ORDER BY o) AS actions FROM jsonb_array_elements_text(l.attributes -> 'bandit.actions') WITH ORDINALITY AS t(x, o)
    ) AS a
    CROSS JOIN LATERAL (
        SELECT array_agg(x::float8 ORDER BY o) AS probabilities
        FROM jsonb_array_elements_text(l.attributes -> 'bandit.probabilities') WITH ORDINALITY AS t(x, o)
    ) AS p
    WHERE l.event_name = 'bandit.decision'
    ON CONFLICT (decision_id) DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION seam_meta.decisions_from_logs() IS 'Statement trigger on lake.logs: the bandit.decision records just stored become lake.decisions rows (validated at acknowledgement).';

CREATE TRIGGER logs_decisions AFTER INSERT ON lake.logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seam_meta.decisions_from_logs();

-- Rewards (ETL job bandits).
CREATE TABLE lake.decision_rewards (
    decision_id       bytea            PRIMARY KEY,
    bandit_key        text             NOT NULL,
    decided_at        timestamptz      NOT NULL,
    reward            double precision NOT NULL,
    rewarded_by       text,
    rewarded_at       timestamptz,
    window_closed     boolean          NOT NULL,
    computed_through  timestamptz      NOT NULL
);
CREATE INDEX decision_rewards_bandit_idx ON lake.decision_rewards (bandit_key, decided_at);
COMMENT ON TABLE lake.decision_rewards IS 'Per decision: the reward its unit''s outcomes earned, by the bandit''s rules (seam.yaml bandits.KEY.rules; default 3 for add_to_basket, 1 for product_view within 20 s, else 0) over its reward window after the decision. Recomputed by the bandits ETL job while the window can still change.';
COMMENT ON COLUMN lake.decision_rewards.decision_id IS 'The decision (lake.decisions).';
COMMENT ON COLUMN lake.decision_rewards.bandit_key IS 'Its bandit.';
COMMENT ON COLUMN lake.decision_rewards.decided_at IS 'Its time. UTC.';
COMMENT ON COLUMN lake.decision_rewards.reward IS 'Points of the first rule (in the order configured) an event of the unit satisfied within the window; 0 when none did.';
COMMENT ON COLUMN lake.decision_rewards.rewarded_by IS 'The event name that earned the reward; NULL for 0.';
COMMENT ON COLUMN lake.decision_rewards.rewarded_at IS 'When that event happened.';
COMMENT ON COLUMN lake.decision_rewards.window_closed IS 'Whether the reward window had ended when the row was computed (a later run may still raise an open window''s reward).';
COMMENT ON COLUMN lake.decision_rewards.computed_through IS 'Window end of the run that computed the row.';

CREATE TABLE lake.bandit_estimates (
    bandit_key        text             NOT NULL,
    day               date             NOT NULL,
    policy            text             NOT NULL,
    method            text             NOT NULL CHECK (method IN ('logged', 'ips', 'snips')),
    decisions         integer          NOT NULL,
    matched           integer          NOT NULL,
    value             double precision,
    ci_low            double precision,
    ci_high           double precision,
    computed_through  timestamptz      NOT NULL,
    PRIMARY KEY (bandit_key, day, policy, method)
);
COMMENT ON TABLE lake.bandit_estimates IS 'Per bandit and UTC day of decision: the logged policy''s mean reward (method logged), and for each action the estimated value of the policy that always takes it, by inverse propensity scoring (ips) and its self-normalized form (snips), with 95 % normal intervals.';
COMMENT ON COLUMN lake.bandit_estimates.bandit_key IS 'The bandit.';
COMMENT ON COLUMN lake.bandit_estimates.day IS 'UTC day of the decisions.';
COMMENT ON COLUMN lake.bandit_estimates.method IS 'logged (the logged policy''s mean reward), ips or snips.';
COMMENT ON COLUMN lake.bandit_estimates.computed_through IS 'Window end of the run that computed the row.';
COMMENT ON COLUMN lake.bandit_estimates.policy IS 'logged, or action:NAME for the constant policy that always takes NAME (when feasible).';
COMMENT ON COLUMN lake.bandit_estimates.decisions IS 'Decisions of the day.';
COMMENT ON COLUMN lake.bandit_estimates.matched IS 'Decisions whose logged action is the policy''s (all of them for logged).';
COMMENT ON COLUMN lake.bandit_estimates.value IS 'logged: mean reward. ips: (1/n) sum of reward / p over matched decisions. snips: sum of reward / p over sum of 1 / p, both over matched decisions. NULL when nothing matched (snips).';
COMMENT ON COLUMN lake.bandit_estimates.ci_low IS 'Lower end of the 95 % interval: mean ± 1.96 standard errors (snips: delta method).';
COMMENT ON COLUMN lake.bandit_estimates.ci_high IS 'Upper end of that interval.';

COMMENT ON COLUMN lake.etl_runs.job IS 'Job name: user_features, segments, segment_metrics, experiment_results or bandits.';
