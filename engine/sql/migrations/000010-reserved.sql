-- Placeholder on branch `search` only: 000010 is taken by branch `logs` (000010-logs), which has not
-- landed yet, and migrations are numbered without gaps. Drop this file when merging; that branch's
-- 000010 takes its place.
SELECT 1;
