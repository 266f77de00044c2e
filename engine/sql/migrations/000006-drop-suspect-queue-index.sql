-- The scheduler (docs/scheduler.md) reads suspects with the rest of a queue's window and keeps them
-- apart in memory; the index that served the SQL claim's separate pass over them (000003) has no reader.
DROP INDEX IF EXISTS task_run_suspect_queue_idx;
