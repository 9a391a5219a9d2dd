-- The request log's cost is mostly B-tree inserts, one per index per row
-- (issue 11). This rebuilds requests with two indexes instead of seven:
-- - (time_us, id) UNIQUE replaces both the index on time_us and the
--   UNIQUE constraint on id: a retried record (same id, same time) is still
--   detected, and inserts land at the index's right edge (time order)
--   instead of at random places (ids are random), which dirtied one page
--   per row;
-- - (key_id, time_us) stays, for a key's usage and rows.
-- Filters on provider, model and team walk the time index newest first
-- and stop at the page's limit.
CREATE TABLE requests_new (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL,
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

INSERT INTO requests_new SELECT seq, id, time_us, client_format, op, model_asked, provider, model_served,
    status, error_kind, error_message, attempts, fallback, stream, latency_us, ttft_us,
    input_tokens, output_tokens, cached_tokens, reasoning_tokens, tokens_estimated,
    cost_usd, priced, key_id, team, prompt, completion
    FROM requests ORDER BY seq;

DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;

CREATE UNIQUE INDEX requests_time_id ON requests (time_us, id);
CREATE INDEX requests_key_time ON requests (key_id, time_us);
