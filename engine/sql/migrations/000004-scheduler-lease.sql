-- The scheduler lease: the engine holding a partition's row decides every admission for the queues of
-- that partition (docs/scheduler.md). One partition today. `epoch` grows at every change of holder, and
-- every scheduler write checks it under FOR SHARE, so a deposed holder's writes change nothing.
CREATE TABLE scheduler_lease (
  partition   smallint PRIMARY KEY,
  holder      uuid,
  epoch       bigint NOT NULL DEFAULT 0,
  acquired_at timestamptz,
  renewed_at  timestamptz,
  expires_at  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO scheduler_lease (partition) VALUES (0);
