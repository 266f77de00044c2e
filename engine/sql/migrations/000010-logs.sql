-- Logs (docs/logs.md): structured fields, the cap per task run and its marker line, search across tasks.

-- `fields`: what ctx.logger's second argument held (NULL when nothing). `truncated`: the one marker line
-- a task run's log gets where its cap was reached; its fields hold what had been kept by then.
ALTER TABLE task_log ADD COLUMN fields jsonb;
ALTER TABLE task_log ADD COLUMN truncated boolean NOT NULL DEFAULT false;

-- What each task run has written, kept or not: a batch of lines locks its task runs' rows here, reads
-- where it starts, and stores only the lines that fall within the cap. No foreign key, as on task_log.
CREATE TABLE task_log_total (
  task_run_id  uuid PRIMARY KEY,
  lines        bigint NOT NULL,
  bytes        bigint NOT NULL
);

-- Search answers newest first, (created_at, id) keyset pages within a time range.
CREATE INDEX task_log_created_idx ON task_log (created_at, id);

-- Text search is `ILIKE '%word%'` over the message and the fields' JSON text. A trigram GIN index serves
-- it for words of three characters or more, when pg_trgm is installed or can be: in `public` (one copy
-- for every Cleaver schema of the database, so dropping one schema never drops another's index), else in
-- this schema. Without it the search still works, by reading lines newest first.
DO $$
DECLARE
  trgm_schema name;
  candidate name;
BEGIN
  SELECT n.nspname INTO trgm_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
  IF trgm_schema IS NULL AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    FOREACH candidate IN ARRAY ARRAY['public', current_schema()]::name[] LOOP
      BEGIN
        EXECUTE format('CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA %I', candidate);
      EXCEPTION WHEN OTHERS THEN
        -- No such schema, no right to create in it, or another migration created the extension just now.
        NULL;
      END;
      SELECT n.nspname INTO trgm_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
      EXIT WHEN trgm_schema IS NOT NULL;
    END LOOP;
  END IF;
  IF trgm_schema IS NULL THEN
    RAISE NOTICE 'pg_trgm is not available: log search by text reads lines without an index (docs/logs.md says how to add it later)';
    RETURN;
  END IF;
  BEGIN
    EXECUTE format($sql$CREATE INDEX task_log_text_idx ON task_log USING gin ((message || coalesce(' ' || fields::text, '')) %I.gin_trgm_ops)$sql$, trgm_schema);
  EXCEPTION WHEN insufficient_privilege THEN
    -- Installed in a schema this role may not use.
    RAISE NOTICE 'pg_trgm is installed in schema % but cannot be used from here: log search by text reads lines without an index (docs/logs.md)', trgm_schema;
  END;
END
$$;
