-- One row per request served: the request log and the usage ledger.
-- Times and durations are integer microseconds (time_us since the Unix epoch, UTC).
CREATE TABLE requests (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    time_us          INTEGER NOT NULL,
    client_format    TEXT    NOT NULL DEFAULT '',
    op               TEXT    NOT NULL DEFAULT '',
    model_asked      TEXT    NOT NULL DEFAULT '',
    provider         TEXT    NOT NULL DEFAULT '',
    model_served     TEXT    NOT NULL DEFAULT '',
    status           INTEGER NOT NULL DEFAULT 0,
    error_kind       TEXT    NOT NULL DEFAULT '',
    error_message    TEXT    NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    fallback         INTEGER NOT NULL DEFAULT 0,
    stream           INTEGER NOT NULL DEFAULT 0,
    latency_us       INTEGER NOT NULL DEFAULT 0,
    ttft_us          INTEGER NOT NULL DEFAULT 0,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cached_tokens    INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    tokens_estimated INTEGER NOT NULL DEFAULT 0,
    cost_usd         REAL    NOT NULL DEFAULT 0,
    priced           INTEGER NOT NULL DEFAULT 0,
    key_id           TEXT    NOT NULL DEFAULT '',
    team             TEXT    NOT NULL DEFAULT '',
    prompt           TEXT    NOT NULL DEFAULT '',
    completion       TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX requests_time ON requests (time_us);
CREATE INDEX requests_provider_time ON requests (provider, time_us);
CREATE INDEX requests_model_asked_time ON requests (model_asked, time_us);
CREATE INDEX requests_model_served_time ON requests (model_served, time_us);
CREATE INDEX requests_key_time ON requests (key_id, time_us);
CREATE INDEX requests_team_time ON requests (team, time_us);
