-- Run search (docs/search.md): the words of a run's input and metadata, and of its task runs' outputs
-- and errors, as tsvectors with GIN indexes. Free of extensions, so it is the same on every Postgres
-- and on PGlite.
--
-- The functions have bodies in standard SQL, bound when created: autovacuum and ANALYZE evaluate index
-- expressions under a search_path that would not find a function named in a body parsed at call time.

-- Text as search reads it, for documents and queries alike: the characters that join words into one
-- token for the text-search parser (user42@example.com, c-12345, 10.0.3.7, a/b, a:b) and the JSON
-- escapes of line breaks and tabs become spaces, so each part is a word of its own.
CREATE FUNCTION cleaver_search_text(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN translate(replace(replace(replace(value, '\n', ' '), '\t', ' '), '\r', ' '), '-@./:', '     ');

-- The words of a JSON value: its strings and numbers (not its keys), from at most the first 16 KiB of
-- their text, since what a write pays grows with the words it indexes and a tsvector holds at most
-- 1 MiB. The 'simple' configuration keeps every word as it is, lowercased: no stemming, no stop words.
CREATE FUNCTION cleaver_search_doc(value jsonb) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN coalesce(to_tsvector('simple'::regconfig, cleaver_search_text(left(
           jsonb_path_query_array(value, 'strict $.** ? (@.type() == "string" || @.type() == "number")')::text, 16384))), ''::tsvector);

-- What a search string asks for: its words in order, the last one also as the beginning of a longer
-- word (search as you type). NULL when it holds no word: it then matches nothing.
CREATE FUNCTION cleaver_search_query(search text) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN numnode(phraseto_tsquery('simple'::regconfig, cleaver_search_text(search))) > 0
              THEN (phraseto_tsquery('simple'::regconfig, cleaver_search_text(search))::text || ':*')::tsquery END;

-- (`'[]' || a || b` puts both values in one array: jsonb_build_array is not immutable.)
-- A run's input and metadata never change after its trigger, so its document is computed once, when the
-- run is inserted; stored, because a list tests it on every run it walks (computing it costs ~10 µs).
-- The run's own output and error are left out on purpose: they are set when it finishes, and a stored or
-- indexed column that changes there makes the finish a non-HOT update (measured: +50% CPU on the run
-- row's start and finish updates). Outputs and errors are found through task_run.
ALTER TABLE run ADD COLUMN search_doc tsvector
  GENERATED ALWAYS AS (cleaver_search_doc('[]'::jsonb || input || metadata)) STORED;
CREATE INDEX run_search_idx ON run USING gin (search_doc);

-- A task run's output and its last error's message and name (not the stack). task_run's updates are not
-- HOT already (its partial indexes name status), so the column and index cost only their own writes,
-- made when a task run gets an output or an error; NULL (nothing stored, nothing indexed) before.
ALTER TABLE task_run ADD COLUMN search_doc tsvector
  GENERATED ALWAYS AS (CASE WHEN output IS NOT NULL OR error IS NOT NULL
                            THEN cleaver_search_doc('[]'::jsonb || coalesce(output, 'null') || coalesce(error -> 'message', 'null')
                                                    || coalesce(error -> 'name', 'null')) END) STORED;
CREATE INDEX task_run_search_idx ON task_run USING gin (search_doc) WHERE search_doc IS NOT NULL;

-- Statistics of ten times the usual words: with the default the planner costs a word it has not sampled
-- as if one run in 1,400 held it, and walked a week of runs (242,000 at a million runs, 130 ms) for a
-- word none has that the index answers in 1 ms. ANALYZE then samples 300,000 rows (~5 s a million).
ALTER TABLE run ALTER COLUMN search_doc SET STATISTICS 1000;
ALTER TABLE task_run ALTER COLUMN search_doc SET STATISTICS 1000;
