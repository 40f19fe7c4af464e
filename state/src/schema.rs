//! The schema and its forward migrations. `PRAGMA user_version` holds the version; each
//! migration runs in the transaction that bumps it. `STATE.md` documents every table.

use rusqlite::Connection;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

/// Version 1: the first schema.
pub(crate) const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE stacks (
    id         INTEGER PRIMARY KEY,
    project    TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (project, name)
);
CREATE TABLE resources (
    stack_id     INTEGER NOT NULL REFERENCES stacks(id),
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,
    provider     TEXT NOT NULL,
    physical_id  TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    outputs      TEXT NOT NULL,
    dependencies TEXT NOT NULL,
    options      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (stack_id, name)
);
CREATE TABLE outputs (
    stack_id INTEGER NOT NULL REFERENCES stacks(id),
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (stack_id, name)
);
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY,
    stack_id    INTEGER NOT NULL REFERENCES stacks(id),
    kind        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    result      TEXT,
    message     TEXT,
    counts      TEXT
);
CREATE TABLE journal (
    id            INTEGER PRIMARY KEY,
    stack_id      INTEGER NOT NULL REFERENCES stacks(id),
    deployment_id INTEGER REFERENCES deployments(id),
    resource      TEXT NOT NULL,
    type          TEXT NOT NULL,
    provider      TEXT NOT NULL,
    operation     TEXT NOT NULL,
    token         TEXT NOT NULL,
    inputs        TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    outcome       TEXT,
    error         TEXT
);
CREATE TABLE locks (
    stack_id    INTEGER PRIMARY KEY REFERENCES stacks(id),
    holder      TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    acquired_at INTEGER NOT NULL
);
"#;

/// Version 2: a resource status (tainted objects are replaced by the next run), and an
/// index that keeps finding leftover intents fast however long the journal grows.
pub(crate) const V2: &str = r#"
ALTER TABLE resources ADD COLUMN status TEXT NOT NULL DEFAULT 'ok';
CREATE INDEX journal_pending ON journal (stack_id) WHERE finished_at IS NULL;
"#;

/// Version 3: dependencies name only recorded resources. Earlier engines also recorded
/// the data sources a resource read (e.g. the availability zones its subnet is placed
/// in); data sources are never recorded, so those names are dropped.
pub(crate) const V3: &str = r#"
UPDATE resources SET dependencies = (
    SELECT coalesce(json_group_array(d.value), '[]')
    FROM json_each(resources.dependencies) AS d
    WHERE EXISTS (SELECT 1 FROM resources AS r
                  WHERE r.stack_id = resources.stack_id AND r.name = d.value)
)
WHERE EXISTS (
    SELECT 1 FROM json_each(resources.dependencies) AS d
    WHERE NOT EXISTS (SELECT 1 FROM resources AS r
                      WHERE r.stack_id = resources.stack_id AND r.name = d.value)
);
"#;

/// Version 4: a deployment may keep a report (JSON), such as a failover drill's timeline,
/// RTO and RPO. Only a column is added; rows written before have none.
pub(crate) const V4: &str = r#"
ALTER TABLE deployments ADD COLUMN report TEXT;
"#;

/// The migrations, in order: `MIGRATIONS[i]` brings version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// Brings the schema from `from` to [`SCHEMA_VERSION`], one transaction per version.
pub(crate) fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    migrate_to(conn, from, SCHEMA_VERSION)
}

/// Brings the schema from `from` to `to` (tests build old fixtures with it).
pub(crate) fn migrate_to(conn: &mut Connection, from: i64, to: i64) -> rusqlite::Result<()> {
    for version in from..to {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}
