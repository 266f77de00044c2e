-- Placeholder on branch `logs` only: 000009 is taken by another branch (metrics or search) that has not
-- landed yet, and migrations are numbered without gaps. Drop this file when merging; that branch's 000009
-- takes its place.
SELECT 1;
