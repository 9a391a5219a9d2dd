-- One row per request served: the request log and the usage ledger.
-- Durations are integer microseconds.
CREATE TABLE requests (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT             NOT NULL UNIQUE,
    time             TIMESTAMPTZ      NOT NULL,
    client_format    TEXT             NOT NULL DEFAULT '',
    op               TEXT             NOT NULL DEFAULT '',
    model_asked      TEXT             NOT NULL DEFAULT '',
    provider         TEXT             NOT NULL DEFAULT '',
    model_served     TEXT             NOT NULL DEFAULT '',
    status           INTEGER          NOT NULL DEFAULT 0,
    error_kind       TEXT             NOT NULL DEFAULT '',
    error_message    TEXT             NOT NULL DEFAULT '',
    attempts         INTEGER          NOT NULL DEFAULT 0,
    fallback         BOOLEAN          NOT NULL DEFAULT FALSE,
    stream           BOOLEAN          NOT NULL DEFAULT FALSE,
    latency_us       BIGINT           NOT NULL DEFAULT 0,
    ttft_us          BIGINT           NOT NULL DEFAULT 0,
    input_tokens     BIGINT           NOT NULL DEFAULT 0,
    output_tokens    BIGINT           NOT NULL DEFAULT 0,
    cached_tokens    BIGINT           NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT           NOT NULL DEFAULT 0,
    tokens_estimated BOOLEAN          NOT NULL DEFAULT FALSE,
    cost_usd         DOUBLE PRECISION NOT NULL DEFAULT 0,
    priced           BOOLEAN          NOT NULL DEFAULT FALSE,
    key_id           TEXT             NOT NULL DEFAULT '',
    team             TEXT             NOT NULL DEFAULT '',
    prompt           TEXT             NOT NULL DEFAULT '',
    completion       TEXT             NOT NULL DEFAULT ''
);

CREATE INDEX requests_time ON requests (time);
CREATE INDEX requests_provider_time ON requests (provider, time);
CREATE INDEX requests_model_asked_time ON requests (model_asked, time);
CREATE INDEX requests_model_served_time ON requests (model_served, time);
CREATE INDEX requests_key_time ON requests (key_id, time);
CREATE INDEX requests_team_time ON requests (team, time);
