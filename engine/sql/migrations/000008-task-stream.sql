-- Streaming (docs/streaming.md): chunks tasks put with ctx.putStream, kept per task run up to a byte
-- bound so that a subscriber attaching late is first given what was streamed before it came. No
-- foreign keys, as on the other hot tables: chunks are written in batches beside their task runs.

-- One row per chunk. A task run's chunks are ordered by (attempt, seq); seq is numbered by the worker,
-- so a chunk sent again after a reconnect (to this engine or another) is stored once.
CREATE TABLE task_stream_chunk (
  task_run_id  uuid NOT NULL,
  attempt      integer NOT NULL,
  seq          integer NOT NULL,
  kind         text NOT NULL CHECK (kind IN ('text', 'json', 'bytes')),
  data         text NOT NULL,        -- text as is, JSON as its text, bytes as base64
  bytes        integer NOT NULL,     -- the size the chunk counts for (text as UTF-8, bytes decoded)
  created_at   timestamptz NOT NULL, -- when the worker put it
  PRIMARY KEY (task_run_id, attempt, seq)
);

-- One row per task run that streamed: the bytes kept, and what was trimmed to stay within the bound
-- (so a late subscriber can be told that older chunks were cut, and how many).
CREATE TABLE task_stream (
  task_run_id  uuid PRIMARY KEY,
  kept_bytes   bigint NOT NULL DEFAULT 0,
  cut_chunks   bigint NOT NULL DEFAULT 0,
  cut_bytes    bigint NOT NULL DEFAULT 0
);
