-- Spend settled but not yet in the ledger (issue 9). A request's cost is
-- charged to spend.spent in the transaction that inserts its row in
-- requests (Record.Charges), so that counters always equal the ledger.
-- Between the request's settlement and that write (the request log's
-- flush window) the cost stays reserved, held by the replica as pending:
-- spend.pending is the part of spend.reserved that is settled spend, and
-- spend_holds.pending each replica's part of it. A killed replica's
-- pending goes with its holds, as its unwritten rows go with it.
ALTER TABLE spend ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE spend_holds ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;
