//! The store: dais's state in one SQLite file under the data directory.
//!
//! WAL mode, versioned migrations applied at open, and exactly one writer: a
//! dedicated thread owns the only read-write connection and runs each write
//! job in its own `BEGIN IMMEDIATE` transaction, so writes never interleave
//! and callers never hold a lock across an `.await`. Reads use a small pool
//! of read-only connections, which WAL lets run beside the writer.
//!
//! Invariants:
//! - a database written by a newer dais (higher schema version) is refused,
//!   never downgraded;
//! - a file that is not a healthy SQLite database is reported and left
//!   untouched: dais never deletes, truncates or re-creates it.

mod migrations;
mod repos;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use rusqlite::{Connection, OpenFlags, Transaction};
use tokio::sync::oneshot;

pub use migrations::{MIGRATIONS, Migration};
pub use repos::{BootInfo, Boots, CameraPresets, RuntimeKey, RuntimeSettings};

/// The file name inside the data directory.
pub const DB_FILE: &str = "dais.db";
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path}: this database has schema version {found}, written by a newer dais; this one knows versions up to {known}. Install the newer dais or restore a backup; the file was not changed"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error(
        "{path}: the database is corrupt ({detail}); it was left untouched. Restore it from a backup or move it aside to start afresh"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: cannot open the database: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: migration {version} ({name}) failed: {source}")]
    Migration {
        path: PathBuf,
        version: u32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the store is closed")]
    Closed,
    /// A row a repository cannot write or read back (its JSON), named.
    #[error("{0}")]
    Row(String),
}

/// What happened when the store was opened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenReport {
    pub path: PathBuf,
    pub schema_version: u32,
    /// Migrations applied by this open (empty when the file was current).
    pub applied: Vec<u32>,
    pub created: bool,
}

type WriteJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// A handle to the store. Cheap to clone; the writer thread stops when
/// [`Store::close`] is called or the last handle is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    report: OpenReport,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (or creates) `dir/dais.db` and brings its schema up to date.
    /// Blocking: call it before the runtime's hot paths or in
    /// `spawn_blocking`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, MIGRATIONS)
    }

    fn open_with(dir: &Path, migrations: &'static [Migration]) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        let created = !path.exists();
        if !created {
            check_header(&path)?;
        }
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| classify(&path, source))?;
        if !created {
            let check: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(|source| classify(&path, source))?;
            if check != "ok" {
                return Err(StoreError::Corrupt {
                    path,
                    detail: check,
                });
            }
        }
        configure(&conn).map_err(|source| classify(&path, source))?;
        let (schema_version, applied) = migrations::apply(&mut conn, &path, migrations)?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(r);
        }

        let (tx, rx) = mpsc::channel::<WriteJob>();
        let writer_thread = thread::Builder::new()
            .name("dais-store-writer".into())
            .spawn(move || {
                for job in rx {
                    job(&mut conn);
                }
                // Fold the WAL back into the main file so a copy of dais.db
                // alone is a complete backup.
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
                    tracing::warn!(error = %e, "store: final checkpoint failed");
                }
                if let Err((_, e)) = conn.close() {
                    tracing::warn!(error = %e, "store: close failed");
                }
            })
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;

        Ok(Self {
            inner: Arc::new(Inner {
                report: OpenReport {
                    path: path.clone(),
                    schema_version,
                    applied,
                    created,
                },
                path,
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(writer_thread)),
                readers: Mutex::new(readers),
            }),
        })
    }

    pub fn report(&self) -> &OpenReport {
        &self.inner.report
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in a write transaction on the writer thread and commits when
    /// it returns `Ok`.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(Box::new(move |conn: &mut Connection| {
            let _ = tx.send(run_in_tx(conn, f));
        }))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// As [`Store::write`], for callers outside the async runtime.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.submit(Box::new(move |conn: &mut Connection| {
            let _ = tx.send(run_in_tx(conn, f));
        }))?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn submit(&self, job: WriteJob) -> Result<(), StoreError> {
        let guard = self.inner.writer.lock().map_err(|_| StoreError::Closed)?;
        guard
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on a read-only connection on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// As [`Store::read`], on the calling thread.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    {
        let conn = self
            .inner
            .readers
            .lock()
            .map_err(|_| StoreError::Closed)?
            .pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c
            }
        };
        let out = f(&conn).map_err(StoreError::from);
        if let Ok(mut pool) = self.inner.readers.lock()
            && pool.len() < READERS
        {
            pool.push(conn);
        }
        out
    }

    /// Finishes queued writes, checkpoints the WAL and closes the file.
    /// Later calls on any handle return [`StoreError::Closed`].
    pub fn close(&self) {
        if let Ok(mut w) = self.inner.writer.lock() {
            w.take();
        }
        if let Ok(mut r) = self.inner.readers.lock() {
            r.clear();
        }
        let handle = self
            .inner
            .writer_thread
            .lock()
            .ok()
            .and_then(|mut h| h.take());
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("store: writer thread panicked");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Some(h) = self.writer_thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = h.join();
        }
    }
}

fn run_in_tx<T, F>(conn: &mut Connection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, rusqlite::Error>,
{
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "store: WAL mode not available");
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
}

/// A file that exists must start with SQLite's magic string. Checked before
/// SQLite touches it, so a foreign file is never modified.
fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("cannot read it: {e}"),
    })?;
    let mut head = [0u8; 16];
    let n = f.read(&mut head).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("cannot read it: {e}"),
    })?;
    if n == 0 {
        // An empty file is what SQLite itself leaves after a crash during
        // creation; it holds no data and SQLite initialises it in place.
        return Ok(());
    }
    if n < 16 || &head != b"SQLite format 3\0" {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "not an SQLite database: the file header is wrong".into(),
        });
    }
    Ok(())
}

fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }
        }
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn migrations_apply_once() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.report().created);
        assert_eq!(s.report().applied.len(), MIGRATIONS.len());
        s.close();
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.report().created);
        assert!(s.report().applied.is_empty());
        assert_eq!(s.report().schema_version, migrations::latest(MIGRATIONS));
        s.close();
    }

    #[test]
    fn newer_schema_is_refused_and_file_kept() {
        let dir = tmp();
        Store::open(dir.path()).unwrap().close();
        let path = dir.path().join(DB_FILE);
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 999;")
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("newer dais"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn garbage_file_is_reported_and_never_overwritten() {
        let dir = tmp();
        let path = dir.path().join(DB_FILE);
        let junk = b"this is not a database, it is somebody's notes\n".repeat(100);
        std::fs::write(&path, &junk).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("left untouched"));
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn damaged_pages_are_reported() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        s.write_blocking(|tx| {
            tx.execute_batch(
                "CREATE TABLE filler(x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<2000) INSERT INTO filler SELECT hex(randomblob(64)) FROM n;",
            )
        })
        .unwrap();
        s.close();
        let path = dir.path().join(DB_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        // Keep the header, scribble over the b-tree pages.
        for b in bytes.iter_mut().skip(4096).take(16384) {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[tokio::test]
    async fn writes_commit_and_reads_see_them() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        let id = s
            .write(|tx| {
                tx.execute(
                    "INSERT INTO boots (started_at, version) VALUES (?1, ?2)",
                    (42, "test"),
                )?;
                Ok(tx.last_insert_rowid())
            })
            .await
            .unwrap();
        let v: String = s
            .read(move |c| {
                c.query_row("SELECT version FROM boots WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
            })
            .await
            .unwrap();
        assert_eq!(v, "test");
        s.close();
        assert!(matches!(s.write(|_| Ok(())).await, Err(StoreError::Closed)));
    }

    #[tokio::test]
    async fn failed_write_rolls_back() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        let r = s
            .write(|tx| {
                tx.execute(
                    "INSERT INTO boots (started_at, version) VALUES (1, 'x')",
                    [],
                )?;
                tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                Ok(())
            })
            .await;
        assert!(r.is_err());
        let n: i64 = s
            .read(|c| c.query_row("SELECT count(*) FROM boots", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
}
