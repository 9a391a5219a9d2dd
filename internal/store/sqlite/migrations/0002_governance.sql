-- Governance: virtual keys, teams, spend counters and top-ups.
-- Times are integer microseconds since the Unix epoch (UTC), 0 for "none".
-- Money in spend and topups is integer nano-dollars (1e-9 USD).
CREATE TABLE teams (
    name          TEXT    PRIMARY KEY,
    budget_usd    REAL    NOT NULL DEFAULT 0,
    budget_period TEXT    NOT NULL DEFAULT '',
    soft_budget   REAL    NOT NULL DEFAULT 0,
    rpm           INTEGER NOT NULL DEFAULT 0,
    tpm           INTEGER NOT NULL DEFAULT 0,
    metadata      TEXT    NOT NULL DEFAULT '{}',
    created_us    INTEGER NOT NULL DEFAULT 0,
    updated_us    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE virtual_keys (
    id            TEXT    PRIMARY KEY,
    hash          TEXT    NOT NULL UNIQUE,
    hint          TEXT    NOT NULL DEFAULT '',
    name          TEXT    NOT NULL DEFAULT '',
    owner         TEXT    NOT NULL DEFAULT '',
    team          TEXT    NOT NULL DEFAULT '',
    models        TEXT    NOT NULL DEFAULT '[]',
    rpm           INTEGER NOT NULL DEFAULT 0,
    tpm           INTEGER NOT NULL DEFAULT 0,
    max_parallel  INTEGER NOT NULL DEFAULT 0,
    budget_usd    REAL    NOT NULL DEFAULT 0,
    budget_period TEXT    NOT NULL DEFAULT '',
    soft_budget   REAL    NOT NULL DEFAULT 0,
    prepaid       INTEGER NOT NULL DEFAULT 0,
    expires_us    INTEGER NOT NULL DEFAULT 0,
    revoked_us    INTEGER NOT NULL DEFAULT 0,
    metadata      TEXT    NOT NULL DEFAULT '{}',
    created_us    INTEGER NOT NULL DEFAULT 0,
    updated_us    INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX virtual_keys_team ON virtual_keys (team);

CREATE TABLE spend (
    scope    TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    start_us INTEGER NOT NULL,
    spent    INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    credit   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject, start_us)
);

CREATE TABLE topups (
    seq     INTEGER PRIMARY KEY,
    id      TEXT    NOT NULL UNIQUE,
    key_id  TEXT    NOT NULL,
    amount  INTEGER NOT NULL,
    note    TEXT    NOT NULL DEFAULT '',
    time_us INTEGER NOT NULL
);

CREATE INDEX topups_key ON topups (key_id, time_us);
