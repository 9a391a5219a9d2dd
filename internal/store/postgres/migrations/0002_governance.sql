-- Governance: virtual keys, teams, spend counters and top-ups.
-- NULL times mean "none". Money in spend and topups is integer
-- nano-dollars (1e-9 USD), so reservations add and subtract exactly.
CREATE TABLE teams (
    name          TEXT             PRIMARY KEY,
    budget_usd    DOUBLE PRECISION NOT NULL DEFAULT 0,
    budget_period TEXT             NOT NULL DEFAULT '',
    soft_budget   DOUBLE PRECISION NOT NULL DEFAULT 0,
    rpm           INTEGER          NOT NULL DEFAULT 0,
    tpm           INTEGER          NOT NULL DEFAULT 0,
    metadata      JSONB            NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ      NOT NULL DEFAULT now()
);

CREATE TABLE virtual_keys (
    id            TEXT             PRIMARY KEY,
    hash          TEXT             NOT NULL UNIQUE,
    hint          TEXT             NOT NULL DEFAULT '',
    name          TEXT             NOT NULL DEFAULT '',
    owner         TEXT             NOT NULL DEFAULT '',
    team          TEXT             NOT NULL DEFAULT '',
    models        JSONB            NOT NULL DEFAULT '[]',
    rpm           INTEGER          NOT NULL DEFAULT 0,
    tpm           INTEGER          NOT NULL DEFAULT 0,
    max_parallel  INTEGER          NOT NULL DEFAULT 0,
    budget_usd    DOUBLE PRECISION NOT NULL DEFAULT 0,
    budget_period TEXT             NOT NULL DEFAULT '',
    soft_budget   DOUBLE PRECISION NOT NULL DEFAULT 0,
    prepaid       BOOLEAN          NOT NULL DEFAULT FALSE,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    metadata      JSONB            NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ      NOT NULL DEFAULT now()
);

CREATE INDEX virtual_keys_team ON virtual_keys (team);

CREATE TABLE spend (
    scope    TEXT        NOT NULL,
    subject  TEXT        NOT NULL,
    start_at TIMESTAMPTZ NOT NULL,
    spent    BIGINT      NOT NULL DEFAULT 0,
    reserved BIGINT      NOT NULL DEFAULT 0,
    credit   BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject, start_at)
);

CREATE TABLE topups (
    seq     BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id      TEXT        NOT NULL UNIQUE,
    key_id  TEXT        NOT NULL,
    amount  BIGINT      NOT NULL,
    note    TEXT        NOT NULL DEFAULT '',
    time    TIMESTAMPTZ NOT NULL
);

CREATE INDEX topups_key ON topups (key_id, time);
