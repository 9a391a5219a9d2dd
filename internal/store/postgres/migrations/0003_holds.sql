-- Reservations belong to the replica that made them (issue 9): a replica
-- says it is alive by renewing its row in gateway_replicas, and
-- spend_holds records what each replica holds on each counter.
-- spend.reserved stays the sum of the live replicas' holds: when a
-- replica's row expires, any other replica deletes its holds and takes
-- them off spend.reserved (Store.RenewHolds), so a killed replica's
-- reservations are released within the hold TTL.
CREATE TABLE gateway_replicas (
    id         TEXT        PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE spend_holds (
    scope    TEXT        NOT NULL,
    subject  TEXT        NOT NULL,
    start_at TIMESTAMPTZ NOT NULL,
    replica  TEXT        NOT NULL,
    amount   BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject, start_at, replica)
);

CREATE INDEX spend_holds_replica ON spend_holds (replica);

-- Reservations made before this migration have no owner and could never
-- be released (a killed replica's stayed forever): they are dropped.
-- Upgrade with every old replica stopped.
UPDATE spend SET reserved = 0 WHERE reserved <> 0;
