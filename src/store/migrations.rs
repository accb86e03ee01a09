//! Versioned schema migrations.
//!
//! The schema version lives in SQLite's `user_version`; every applied
//! migration is also recorded in `schema_migrations` with its time, so an
//! installer can see when a box was upgraded. Migrations are append-only:
//! a released migration is never edited, a change is a new migration.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Versions start at 1 and have no gaps.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "boots",
        sql: "
        CREATE TABLE schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        );
        -- One row per start of dais; stopped_at is set on a clean stop, so a
        -- row without it marks a crash or power loss.
        CREATE TABLE boots (
            id         INTEGER PRIMARY KEY,
            started_at INTEGER NOT NULL,
            version    TEXT NOT NULL,
            stopped_at INTEGER
        );
    ",
    },
    Migration {
        version: 2,
        name: "conference server",
        sql: "
        -- Conferences as the REST API writes them (the v3/v4 JSON object).
        CREATE TABLE conferences (
            id         TEXT PRIMARY KEY,
            body       TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE templates (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            name       TEXT NOT NULL,
            settings   TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        -- OAuth tokens by SHA-256; the tokens themselves are never stored.
        CREATE TABLE api_tokens (
            hash           TEXT PRIMARY KEY,
            kind           TEXT NOT NULL,
            principal_kind TEXT NOT NULL,
            subject        TEXT NOT NULL,
            expires_at     INTEGER NOT NULL
        );
        CREATE TABLE guest_links (
            hash         TEXT PRIMARY KEY,
            cid          TEXT NOT NULL,
            guest_id     TEXT NOT NULL,
            display_name TEXT NOT NULL,
            expires_at   INTEGER NOT NULL,
            used         INTEGER NOT NULL DEFAULT 0
        );
        ",
    },
    Migration {
        version: 3,
        name: "runtime settings",
        sql: "
        -- Settings changed through the control API while running (setSettings);
        -- applied over the settings files at start.
        CREATE TABLE runtime_settings (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        ",
    },
    Migration {
        version: 4,
        name: "camera presets",
        sql: "
        -- Presets 1 to 35 per camera (by device path): control id -> value.
        CREATE TABLE camera_presets (
            camera   TEXT NOT NULL,
            preset   INTEGER NOT NULL CHECK (preset BETWEEN 1 AND 35),
            controls TEXT NOT NULL,
            saved_at INTEGER NOT NULL,
            PRIMARY KEY (camera, preset)
        );
        ",
    },
    Migration {
        version: 5,
        name: "conference chat",
        sql: "
        -- The chat of each conference (seed 000: one chat per conference,
        -- kept across its runs; late joiners get the history). Follows
        -- CID changes; goes when the conference is deleted.
        CREATE TABLE chat_messages (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            cid          TEXT NOT NULL,
            sender       TEXT NOT NULL,
            display_name TEXT NOT NULL,
            text         TEXT NOT NULL,
            sent_at      INTEGER NOT NULL
        );
        CREATE INDEX chat_messages_by_cid ON chat_messages (cid, id);
        ",
    },
];

pub fn latest(migrations: &[Migration]) -> u32 {
    migrations.last().map_or(0, |m| m.version)
}

/// Brings the schema to the latest version. Returns the version now in the
/// file and the versions applied by this call.
pub fn apply(
    conn: &mut Connection,
    path: &Path,
    migrations: &'static [Migration],
) -> Result<(u32, Vec<u32>), StoreError> {
    let known = latest(migrations);
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    let mut applied = Vec::new();
    for m in migrations.iter().filter(|m| m.version > found) {
        let fail = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version: m.version,
            name: m.name,
            source,
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .map_err(fail)?;
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%s','now'))",
            (m.version, m.name),
        )
        .map_err(fail)?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "store: applied migration"
        );
        applied.push(m.version);
    }
    Ok((found.max(known), applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_ordered() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                m.version as usize,
                i + 1,
                "migration {} out of order",
                m.name
            );
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_version_alone() {
        static BAD: &[Migration] = &[
            Migration {
                version: 1,
                name: "ok",
                sql: "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER); CREATE TABLE a(x);",
            },
            Migration {
                version: 2,
                name: "broken",
                sql: "CREATE TABLE b(x); THIS IS NOT SQL;",
            },
        ];
        let mut conn = Connection::open_in_memory().unwrap();
        let err = apply(&mut conn, Path::new("mem"), BAD).unwrap_err();
        assert!(err.to_string().contains("migration 2 (broken)"), "{err}");
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
        let b: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b, 0, "the failed migration's table must roll back");
    }
}
