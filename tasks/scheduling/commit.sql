-- The scheduler's durable writes, run server-side: one call per batch of sockets (see store.py).
-- Each op is a JSON object: {"op": "s"|"l"|"r", ...}; the result is a JSON array with one object per op.
-- Microtasks and items are stored in a table per job (tasks/partitions.py), and every statement on them names the
-- job. Two ways to run those statements, chosen per batch by the number of jobs' tables (quorum_by_job_table):
-- - up to 200 of them (quorum.job_tables_on_cached_plans), on the partitioned parent with cached generic plans
--   (plan_cache_mode on quorum_commit_batch, which the others run inside): PostgreSQL prunes the other jobs'
--   tables as each statement starts, but locks every one of them first;
-- - beyond, on the job's own table by name (EXECUTE), planned at each call: 100-150 us of planning a lease, whatever
--   the number of jobs, where the cached plans' locks grow with the jobs stored (7 % fewer answers a second with 100
--   jobs) and, past about 1,500 jobs, run out ("out of shared memory", max_locks_per_transaction).
-- docs/BENCHMARKS.md "Many jobs stored" has the figures. A statement on one job's table that reads by anything but
-- the id still says job_id = ...: the table's indexes, made from the parent's, lead with it.

-- The job's table of items or microtasks (tasks/partitions.py names them), or NULL where the job has none: a job
-- deleted while its workers still answered.
CREATE OR REPLACE FUNCTION quorum_job_table(parent text, job bigint) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN to_regclass(parent || '_p' || job) IS NULL THEN NULL ELSE quote_ident(parent || '_p' || job) END
$$;

-- Whether a batch runs its statements on each job's own table: more than 200 jobs'
-- tables, or the setting quorum.job_tables_on_cached_plans where a session or the database sets it (tests, tuning).
CREATE OR REPLACE FUNCTION quorum_by_job_table() RETURNS boolean LANGUAGE sql STABLE AS $$
  WITH most AS (SELECT coalesce(nullif(current_setting('quorum.job_tables_on_cached_plans', true), '')::int, 200) AS n)
  SELECT count(*) > (SELECT n FROM most)
  FROM (SELECT 1 FROM pg_inherits WHERE inhparent = 'tasks_microtask'::regclass LIMIT (SELECT n + 1 FROM most)) t
$$;

-- The functions below take the batch's choice as a second argument.
DROP FUNCTION IF EXISTS quorum_submit(jsonb);
DROP FUNCTION IF EXISTS quorum_lease(jsonb);
DROP FUNCTION IF EXISTS quorum_release(jsonb);

CREATE OR REPLACE FUNCTION quorum_submit(op jsonb, by_table boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  mt bigint := (op->>'mt')::bigint;
  job bigint := (op->>'j')::bigint;
  w bigint := (op->>'w')::bigint;
  microtasks text;
  m record;
  prior record;
  aid bigint;
  stored int;
BEGIN
  -- One submission per (microtask, worker): the same key resent is a duplicate; another key is a second answer
  -- and is refused, as is an answer to a microtask the worker skipped (on another socket, say).
  SELECT status, idempotency_key INTO prior FROM tasks_assignment WHERE microtask_id = mt AND worker_id = w;
  IF FOUND AND prior.status = 'submitted' THEN
    IF prior.idempotency_key IS NOT DISTINCT FROM op->>'key' THEN
      RETURN '{"s": "duplicate"}'::jsonb;
    END IF;
    RETURN '{"s": "answered"}'::jsonb;
  END IF;
  IF FOUND AND prior.status = 'skipped' THEN
    RETURN '{"s": "skipped"}'::jsonb;
  END IF;
  IF by_table THEN
    microtasks := quorum_job_table('tasks_microtask', job);
    IF microtasks IS NULL THEN
      RETURN '{"s": "rejected"}'::jsonb;
    END IF;
    EXECUTE format($q$UPDATE %s SET
      answer_count = answer_count + 1,
      status = CASE WHEN NOT is_gold AND answer_count + 1 >= answers_wanted THEN 'done' ELSE status END,
      completed_at = CASE WHEN NOT is_gold AND answer_count + 1 >= answers_wanted THEN now() ELSE completed_at END
    WHERE job_id = $2 AND id = $1 AND status <> 'cancelled' AND (is_gold OR answer_count < answers_wanted)
    RETURNING job_id, status, item_count, is_gold$q$, microtasks) INTO m USING mt, job;
  ELSE
    UPDATE tasks_microtask SET
      answer_count = answer_count + 1,
      status = CASE WHEN NOT is_gold AND answer_count + 1 >= answers_wanted THEN 'done' ELSE status END,
      completed_at = CASE WHEN NOT is_gold AND answer_count + 1 >= answers_wanted THEN now() ELSE completed_at END
    WHERE job_id = job AND id = mt AND status <> 'cancelled' AND (is_gold OR answer_count < answers_wanted)
    RETURNING job_id, status, item_count, is_gold INTO m;
  END IF;
  IF m.job_id IS NULL THEN  -- no row (and EXECUTE leaves FOUND alone)
    RETURN '{"s": "rejected"}'::jsonb;
  END IF;
  -- A lease records the reward it pays; an answer without one (its lease row gone) pays the job's reward now.
  INSERT INTO tasks_assignment (microtask_id, job_id, worker_id, status, leased_at, expires_at, submitted_at,
                                seconds_taken, idempotency_key, flag, review, reward)
  VALUES (mt, m.job_id, w, 'submitted', now(), now(), now(), (op->>'secs')::float8, op->>'key',
          coalesce(op->>'flag', ''), 'pending', (SELECT reward FROM tasks_job WHERE id = m.job_id))
  ON CONFLICT (microtask_id, worker_id) DO UPDATE SET
    status = 'submitted', submitted_at = now(), seconds_taken = EXCLUDED.seconds_taken,
    idempotency_key = EXCLUDED.idempotency_key, flag = EXCLUDED.flag
  RETURNING id INTO aid;
  INSERT INTO tasks_answer (assignment_id, item_id, job_id, worker_id, value, counts, created_at)
  SELECT aid, (e->>'item')::bigint, m.job_id, w, e->'value', true, now()
  FROM jsonb_array_elements(op->'answers') e;
  GET DIAGNOSTICS stored = ROW_COUNT;
  RETURN jsonb_build_object('s', 'accepted', 'status', m.status, 'items', m.item_count, 'n', stored,
                            'a', aid, 'g', m.is_gold);
END $$;

-- What a worker sees of an item: the job's text column and its other shown columns, nothing else (a column the
-- job does not show never leaves PostgreSQL). A job that names none shows every column but its id and gold ones.
CREATE OR REPLACE FUNCTION quorum_shown(data jsonb, text_field text, shown_fields jsonb, id_field text,
                                        gold_field text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN text_field = '' AND (shown_fields IS NULL OR shown_fields = '[]'::jsonb) THEN data - id_field - gold_field
    ELSE coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(data) e
                   WHERE e.key = text_field OR shown_fields ? e.key), '{}'::jsonb)
  END
$$;

CREATE OR REPLACE FUNCTION quorum_lease(op jsonb, by_table boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  w bigint := (op->>'w')::bigint;
  job bigint := (op->>'j')::bigint;
  microtasks text;
  m record;
  j record;
  a record;
  items jsonb;
BEGIN
  -- The microtask and its items as stored, in one statement (on the job's tables, each EXECUTE is planned anew);
  -- what workers see of the items is built below by a statement with a cached plan.
  IF by_table THEN
    microtasks := quorum_job_table('tasks_microtask', job);
    IF microtasks IS NULL THEN
      RETURN '{"ms": null}'::jsonb;
    END IF;
    EXECUTE format($q$SELECT m.id, m.job_id, m.index, m.rank, m.status, m.is_gold, m.answer_count, m.answers_wanted,
                             i.ids, i.data
                      FROM %s m LEFT JOIN LATERAL (
                        SELECT array_agg(x.id ORDER BY x.position) AS ids, array_agg(x.data ORDER BY x.position) AS data
                        FROM %s x WHERE x.job_id = $2 AND x.microtask_index = m.index) i ON true
                      WHERE m.job_id = $2 AND m.id = $1$q$, microtasks, quorum_job_table('tasks_item', job))
      INTO m USING (op->>'mt')::bigint, job;
  ELSE
    SELECT t.id, t.job_id, t.index, t.rank, t.status, t.is_gold, t.answer_count, t.answers_wanted, i.ids, i.data
    INTO m
    FROM tasks_microtask t LEFT JOIN LATERAL (
      SELECT array_agg(x.id ORDER BY x.position) AS ids, array_agg(x.data ORDER BY x.position) AS data
      FROM tasks_item x WHERE x.job_id = job AND x.microtask_index = t.index) i ON true
    WHERE t.job_id = job AND t.id = (op->>'mt')::bigint;
  END IF;
  IF m.id IS NULL THEN
    RETURN '{"ms": null}'::jsonb;
  END IF;
  SELECT status, reward, text_field, shown_fields, id_field, gold_field INTO j FROM tasks_job WHERE id = m.job_id;
  IF m.status = 'open' AND j.status = 'open' THEN
    -- Redis's free slots decide who gets a microtask; this is the backstop for when Redis lost writes (a failover):
    -- no more live leases than answers still wanted, else the extra answer would be refused after the work.
    -- (Counted through the (microtask, worker) index, as pool.py's FILL_SQL does.)
    IF NOT m.is_gold AND m.answer_count + (SELECT count(*) FILTER (WHERE status = 'leased' AND expires_at > now())
                                            FROM tasks_assignment WHERE microtask_id = m.id) >= m.answers_wanted THEN
      RETURN jsonb_build_object('ms', m.status, 'job', m.job_id, 'rank', m.rank, 'index', m.index, 'taken', true);
    END IF;
    -- The worker's lease limit holds across all their sockets and processes: the batch holds the worker's lock
    -- (quorum_commit_batch), so no other lease of theirs is being granted meanwhile.
    IF op ? 'max' AND (SELECT count(*) FROM tasks_assignment
                       WHERE worker_id = w AND status = 'leased' AND expires_at > now()) >= (op->>'max')::int THEN
      RETURN jsonb_build_object('ms', m.status, 'job', m.job_id, 'rank', m.rank, 'index', m.index, 'full', true);
    END IF;
    INSERT INTO tasks_assignment (microtask_id, job_id, worker_id, status, leased_at, expires_at, review, reward)
    VALUES (m.id, m.job_id, w, 'leased', now(), now() + make_interval(secs => (op->>'secs')::float8), 'pending',
            j.reward)
    ON CONFLICT (microtask_id, worker_id) DO NOTHING
    RETURNING id, leased_at, expires_at INTO a;
    IF FOUND THEN
      -- The common job shows one text column: built in place, not through quorum_shown's walk of every key.
      SELECT jsonb_agg(jsonb_build_object(
               'id', i.id, 'data',
               CASE WHEN j.text_field <> '' AND j.shown_fields = '[]'::jsonb AND i.data ? j.text_field
                    THEN jsonb_build_object(j.text_field, i.data -> j.text_field)
                    ELSE quorum_shown(i.data, j.text_field, j.shown_fields, j.id_field, j.gold_field)
               END)
             ORDER BY i.n)
        INTO items FROM unnest(m.ids, m.data) WITH ORDINALITY i(id, data, n);
      RETURN jsonb_build_object(
        'ms', m.status, 'job', m.job_id, 'rank', m.rank, 'index', m.index,
        'a', a.id, 'la', a.leased_at, 'ea', a.expires_at, 'items', items);
    END IF;
  END IF;
  RETURN jsonb_build_object('ms', m.status, 'job', m.job_id, 'rank', m.rank, 'index', m.index);
END $$;

CREATE OR REPLACE FUNCTION quorum_release(op jsonb, by_table boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  a record;
  r record;
  microtasks text;
BEGIN
  UPDATE tasks_assignment SET status = op->>'status'
  WHERE id = (op->>'a')::bigint AND worker_id = (op->>'w')::bigint AND status = 'leased'
  RETURNING microtask_id, job_id INTO a;
  IF NOT FOUND THEN
    RETURN '{}'::jsonb;
  END IF;
  IF by_table THEN
    microtasks := quorum_job_table('tasks_microtask', a.job_id);
    IF microtasks IS NULL THEN
      RETURN '{}'::jsonb;
    END IF;
    EXECUTE format('SELECT id AS microtask_id, job_id, rank, index, is_gold, status FROM %s WHERE job_id = $2 AND id = $1',
                   microtasks) INTO r USING a.microtask_id, a.job_id;
  ELSE
    SELECT m.id AS microtask_id, m.job_id, m.rank, m.index, m.is_gold, m.status INTO r
    FROM tasks_microtask m WHERE m.job_id = a.job_id AND m.id = a.microtask_id;
  END IF;
  RETURN jsonb_build_object('mt', r.microtask_id, 'job', r.job_id, 'rank', r.rank, 'index', r.index,
                            'g', r.is_gold, 'ms', r.status);
END $$;

-- A worker's advisory lock is (this namespace, the worker's key); ids beyond 32 bits share keys, which only
-- serialises those workers' batches.
CREATE OR REPLACE FUNCTION quorum_worker_lock_space() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 7301';
CREATE OR REPLACE FUNCTION quorum_worker_lock_key(w bigint) RETURNS int LANGUAGE sql IMMUTABLE AS
  'SELECT mod(w, 2147483647)::int';

CREATE OR REPLACE FUNCTION quorum_commit_batch(ops jsonb) RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  op jsonb;
  results jsonb[] := '{}';
  submits record;
  microtasks text;
  by_table boolean := quorum_by_job_table();
BEGIN
  -- Submits lock their microtasks first, in (job, id) order, so concurrent batches cannot deadlock; one
  -- statement per job.
  FOR submits IN
    SELECT (e->>'j')::bigint AS job, array_agg((e->>'mt')::bigint) AS ids
    FROM jsonb_array_elements(ops) e WHERE e->>'op' = 's' GROUP BY 1 ORDER BY 1
  LOOP
    IF NOT by_table THEN
      PERFORM 1 FROM tasks_microtask WHERE job_id = submits.job AND id = ANY(submits.ids) ORDER BY id
      FOR NO KEY UPDATE;
      CONTINUE;
    END IF;
    microtasks := quorum_job_table('tasks_microtask', submits.job);
    IF microtasks IS NOT NULL THEN
      EXECUTE format('SELECT 1 FROM %s WHERE job_id = $2 AND id = ANY($1) ORDER BY id FOR NO KEY UPDATE', microtasks)
        USING submits.ids, submits.job;
    END IF;
  END LOOP;
  -- Then each worker of the batch, in key order: a worker's leases are counted against their limit, and resumed
  -- or held (leases.py) under this same lock, so neither two batches nor a batch and a reconnect can deadlock
  -- on one worker's assignments, and no two sockets of a worker can both take their last free lease.
  PERFORM pg_advisory_xact_lock(quorum_worker_lock_space(), k)
  FROM (SELECT DISTINCT quorum_worker_lock_key((e->>'w')::bigint) AS k FROM jsonb_array_elements(ops) e
        ORDER BY 1) workers;
  FOR op IN SELECT value FROM jsonb_array_elements(ops) LOOP
    results := results || CASE op->>'op'
      WHEN 's' THEN quorum_submit(op, by_table)
      WHEN 'l' THEN quorum_lease(op, by_table)
      ELSE quorum_release(op, by_table) END;
  END LOOP;
  RETURN to_jsonb(results);
END $$;
