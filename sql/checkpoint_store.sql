-- The checkpoint store's tables: the same DDL for the embedded SQLite file and a shared PostgreSQL
-- database (--checkpoint postgresql://...). The loader creates them when missing; a DBA may create
-- them ahead of time with this file and grant the loader's role SELECT, INSERT, UPDATE, DELETE.

-- One row per job: what it is bound to (fingerprints) and how far it got.
CREATE TABLE IF NOT EXISTS spotzee_jobs (
    job         TEXT PRIMARY KEY,
    source      TEXT NOT NULL,              -- the source as given (no password)
    source_fp   TEXT NOT NULL,              -- what is read: a query, a window, a file's row groups
    mapping     TEXT NOT NULL,
    mapping_fp  TEXT NOT NULL,
    target      TEXT NOT NULL,              -- the API base URL events go to
    generation  BIGINT NOT NULL DEFAULT 1,  -- bumped by --restart: new idempotency keys
    state       TEXT NOT NULL,              -- running, finished, failed, interrupted, dry_run
    prefix_seq  BIGINT NOT NULL DEFAULT -1, -- every chunk up to this one is acknowledged
    prefix_row  BIGINT NOT NULL DEFAULT 0,  -- the row a resumed run starts at
    prefix_key  TEXT,                       -- the key of the last row of the prefix (database sources)
    rows_done   BIGINT NOT NULL DEFAULT 0,
    events_sent BIGINT NOT NULL DEFAULT 0,
    rejected    BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    last_error  TEXT,
    report      TEXT                        -- the last run's report (JSON)
);

-- Chunks acknowledged out of order, beyond the job's prefix (at most a few per job).
CREATE TABLE IF NOT EXISTS spotzee_chunks (
    job       TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    start_row BIGINT NOT NULL,
    end_row   BIGINT NOT NULL,
    end_key   TEXT,
    events    BIGINT NOT NULL,
    rejected  BIGINT NOT NULL,
    PRIMARY KEY (job, seq)
);

-- Rejected rows (the dead letters), recorded in the same transaction as their chunk.
CREATE TABLE IF NOT EXISTS spotzee_rejects (
    job    TEXT NOT NULL,
    seq    BIGINT NOT NULL,
    row_no BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spotzee_rejects_by_job ON spotzee_rejects (job, row_no);

-- The files a job read, each as its last run read it (size, modification time, digest; JSON): a later run
-- continues a file that only grew and a folder that gained files, and stops on a file changed in place.
CREATE TABLE IF NOT EXISTS spotzee_files (
    job    TEXT NOT NULL,
    name   TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (job, name)
);

-- Leases on a shared API budget (Spotzee's per-egress-IP request rate): every sending load renews its own
-- row every few seconds; rows past expires_at (seconds since the epoch) belong to loads that are gone.
CREATE TABLE IF NOT EXISTS spotzee_budget_leases (
    budget     TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (budget, holder)
);

-- When Spotzee last blocked the egress IP of a budget (a 429): every load of the budget holds until blocked_until
-- (seconds since the epoch), so none of them hammers a blocked IP.
CREATE TABLE IF NOT EXISTS spotzee_budget_blocks (
    budget        TEXT PRIMARY KEY,
    blocked_until DOUBLE PRECISION NOT NULL
);
