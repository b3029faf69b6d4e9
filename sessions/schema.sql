-- schema.sql - the mpdbg session file, schema version 1.
--
-- One SQLite file is one recorded run: the model and how it ran, its graph,
-- and per batch the statistics of every value, the comparison with the fp32
-- shadow run, every cast, the captured tensors and the breakpoint hit.
-- The file is written in WAL mode by one writer thread, one transaction per
-- batch; readers may open it while a run writes it.  PRAGMA user_version
-- holds the schema version; mpdbg migrates older files when it opens them
-- for writing and refuses newer ones.
--
-- Conventions: dtypes are spelled as ONNX/numpy spell them (float32,
-- bfloat16, float16, int64, bool); shapes are JSON arrays of integers;
-- times are ISO 8601 UTC text; statistics are over the finite values, with
-- NaN and +-Inf counted apart; NULL means "not measured".

CREATE TABLE run (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    model_path    TEXT NOT NULL,
    model_sha256  TEXT NOT NULL,        -- of the .onnx file
    data_sha256   TEXT,                 -- of its external data files, in order, hashed together
    policy        TEXT NOT NULL,        -- fp32, bf16-autocast, bf16, fp16-autocast, fp16
    on_mismatch   TEXT NOT NULL,        -- error, cast, promote
    overrides     TEXT NOT NULL,        -- JSON: [{"glob": ..., "dtype": ...}]
    low_dtype     TEXT NOT NULL,        -- the policy's low type (float32 for fp32)
    compare       TEXT,                 -- 'fp32' with --compare, else NULL
    tol           REAL,
    backend       TEXT NOT NULL,        -- cpu, cuda
    device        TEXT NOT NULL,        -- the processor or GPU's name
    argv          TEXT NOT NULL,        -- JSON array
    mpdbg_version TEXT NOT NULL,
    sqlite_version TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,        -- running, done, stopped (a mismatch or breakpoint), failed
    message       TEXT                  -- why it stopped or failed
);

CREATE TABLE nodes (
    idx        INTEGER PRIMARY KEY,     -- execution order
    name       TEXT NOT NULL,
    op         TEXT NOT NULL,
    module     TEXT NOT NULL,           -- dotted module path, '' for the model itself
    exec_dtype TEXT,                    -- the dtype it computes in under the policy (first batch's plan)
    inputs     TEXT NOT NULL,           -- JSON array of value names ('' for an omitted input)
    outputs    TEXT NOT NULL            -- JSON array of value names
);

CREATE TABLE graph_values (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL,             -- input, initializer, node
    producer INTEGER REFERENCES nodes(idx),
    dtype    TEXT,                      -- under the policy (first batch's plan)
    is_output INTEGER NOT NULL          -- 1 for a graph output
);

CREATE TABLE batches (
    idx          INTEGER PRIMARY KEY,   -- position in the batch source
    source       TEXT NOT NULL,         -- the file (or test case folder) it came from
    sha256       TEXT,                  -- of that file
    ms           REAL,                  -- wall time of the run of this batch, probes included
    status       TEXT NOT NULL,         -- done, stopped, failed
    message      TEXT,
    committed_at TEXT NOT NULL
);

CREATE TABLE stats (
    batch          INTEGER NOT NULL REFERENCES batches(idx),
    value          INTEGER NOT NULL REFERENCES graph_values(id),
    node           INTEGER,             -- producer; NULL for a graph input
    dtype          TEXT NOT NULL,
    shape          TEXT NOT NULL,
    -- the statistics: one column per row of kernels/stats.def (two for a
    -- row per low type, NAME_bf16 and NAME_f16), composed in by store.c
    @STATS_COLUMNS@
    hist           BLOB,                -- binary exponents, see below
    div_across     REAL,                -- mean over features of the std across the batch
    div_within     REAL,                -- mean over samples of the std within a sample
    PRIMARY KEY (batch, value)
) WITHOUT ROWID;

-- hist: byte 0 = 1 (the encoding), bytes 1-2 the first bin, 3-4 the number
-- of bins kept (little endian), then one unsigned LEB128 count per bin.
-- Bins: 0 zero, 1 subnormal (nonzero |x| < 2^-126), 2..255 the exponents
-- -126..127 (|x| in [2^e, 2^(e+1)), bin e+128), 256 +-Inf, 257 NaN.

CREATE TABLE comparisons (
    batch            INTEGER NOT NULL REFERENCES batches(idx),
    value            INTEGER NOT NULL REFERENCES graph_values(id),
    node             INTEGER NOT NULL,
    max_abs          REAL NOT NULL,     -- against the fp32 shadow run
    rel_l2           REAL,              -- ||x - ref|| / ||ref||
    cosine           REAL,
    sqnr_db          REAL,              -- 10 log10(||ref||^2 / ||x - ref||^2); NULL when exact
    nonfinite        INTEGER NOT NULL,  -- pairs where one is NaN/Inf and they differ
    own_rel_l2       REAL,              -- against the node rerun in fp32 on this run's inputs
    inherited_rel_l2 REAL,              -- that rerun against the shadow
    PRIMARY KEY (batch, value)
) WITHOUT ROWID;

CREATE TABLE dtype_events (
    batch     INTEGER NOT NULL REFERENCES batches(idx),
    seq       INTEGER NOT NULL,
    node      INTEGER,                  -- NULL: before any node (entry, weight conversion)
    slot      INTEGER,                  -- input slot; NULL for the node itself
    value     INTEGER,
    from_dtype TEXT,
    to_dtype  TEXT,
    reason    TEXT NOT NULL,            -- entry, autocast, promote, mismatch, weight, graph, retarget, override, blocked
    max_abs   REAL,                     -- rounding error of a weight or constant cast
    max_rel   REAL,
    PRIMARY KEY (batch, seq)
) WITHOUT ROWID;

CREATE TABLE captures (
    batch INTEGER NOT NULL REFERENCES batches(idx),
    value INTEGER NOT NULL REFERENCES graph_values(id),
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    data  BLOB NOT NULL,                -- row-major, little endian
    PRIMARY KEY (batch, value)
) WITHOUT ROWID;

CREATE TABLE breakpoint_hits (
    batch   INTEGER NOT NULL REFERENCES batches(idx),
    kind    TEXT NOT NULL,              -- nan, inf, overflow, mismatch, tol, node
    spec    TEXT NOT NULL,              -- as given to --break
    node    INTEGER,                    -- NULL: a graph input
    value   INTEGER,
    message TEXT NOT NULL
);

-- stats_by_value (value, batch) is built when the run finishes: one bulk
-- build instead of an index to update on every row while recording.
