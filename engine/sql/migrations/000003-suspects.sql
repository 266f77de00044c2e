-- Task runs lost with their worker more than once ("suspects": one of them may be what kills its
-- workers) are claimed one per worker at a time. This index finds them without reading the whole
-- queue of their action; it holds only the few queued task runs in that state.
CREATE INDEX task_run_suspect_queue_idx ON task_run (action, priority DESC, id)
  WHERE status = 'queued' AND worker_lost_count >= 2;
