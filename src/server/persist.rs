//! The server's tables: conferences, templates, tokens and guest links.
//! Conferences are stored as the API's own JSON object, read back with the
//! same parser that reads requests, so the two cannot drift apart.

use rusqlite::{OptionalExtension, Transaction, params};

use super::ServerError;
use super::auth::TokenRow;
use super::links::GuestLink;
use super::model;
use crate::conference::Conference;
use crate::conference::template::Template;
use crate::store::Store;

/// A conference ready to be written.
pub struct ConferenceRow {
    pub id: String,
    pub body: String,
}

impl ConferenceRow {
    pub fn of(c: &Conference) -> Self {
        // The stored form needs no public URL; links are rebuilt per request.
        Self {
            id: c.id.to_string(),
            body: model::conference_json(c, "").to_string(),
        }
    }
}

pub fn upsert_conference(
    tx: &Transaction<'_>,
    row: &ConferenceRow,
    renamed_from: Option<&str>,
) -> rusqlite::Result<()> {
    if let Some(old) = renamed_from {
        tx.execute("DELETE FROM conferences WHERE id = ?1", [old])?;
        // The chat follows the conference to its new CID.
        tx.execute(
            "UPDATE chat_messages SET cid = ?1 WHERE cid = ?2",
            params![row.id, old],
        )?;
    }
    tx.execute(
        "INSERT INTO conferences (id, body, updated_at) VALUES (?1, ?2, strftime('%s','now'))
         ON CONFLICT(id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        params![row.id, row.body],
    )?;
    Ok(())
}

pub fn delete_conference(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM conferences WHERE id = ?1", [id])?;
    tx.execute("DELETE FROM guest_links WHERE cid = ?1", [id])?;
    tx.execute("DELETE FROM chat_messages WHERE cid = ?1", [id])?;
    Ok(())
}

/// One chat message as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: i64,
    pub from: String,
    pub display_name: String,
    pub text: String,
    /// Unix seconds.
    pub at: i64,
}

pub fn add_chat(
    tx: &Transaction<'_>,
    cid: &str,
    from: &str,
    display_name: &str,
    text: &str,
    at: i64,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO chat_messages (cid, sender, display_name, text, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![cid, from, display_name, text, at],
    )?;
    Ok(tx.last_insert_rowid())
}

/// The last `limit` messages of a conference, oldest first.
pub fn chat_history(
    conn: &rusqlite::Connection,
    cid: &str,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut st = conn.prepare(
        "SELECT id, sender, display_name, text, sent_at FROM chat_messages
         WHERE cid = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut v = st
        .query_map(params![cid, limit as i64], |r| {
            Ok(ChatMessage {
                id: r.get(0)?,
                from: r.get(1)?,
                display_name: r.get(2)?,
                text: r.get(3)?,
                at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    v.reverse();
    Ok(v)
}

pub fn save_template(
    tx: &Transaction<'_>,
    id: Option<i64>,
    name: &str,
    settings: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    match id {
        Some(id) => {
            tx.execute(
                "UPDATE templates SET name = ?1, settings = ?2 WHERE id = ?3",
                params![name, settings, id],
            )?;
            Ok(id)
        }
        None => {
            tx.execute(
                "INSERT INTO templates (name, settings, created_at) VALUES (?1, ?2, ?3)",
                params![name, settings, now],
            )?;
            Ok(tx.last_insert_rowid())
        }
    }
}

pub fn delete_template(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM templates WHERE id = ?1", [id])?;
    Ok(())
}

pub fn save_tokens(tx: &Transaction<'_>, rows: &[TokenRow], now: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM api_tokens WHERE expires_at <= ?1", [now])?;
    for r in rows {
        tx.execute(
            "INSERT OR REPLACE INTO api_tokens (hash, kind, principal_kind, subject, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![r.hash, r.kind, r.principal_kind, r.subject, r.expires_at],
        )?;
    }
    Ok(())
}

pub fn delete_token(tx: &Transaction<'_>, hash: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM api_tokens WHERE hash = ?1", [hash])?;
    Ok(())
}

pub fn save_link(tx: &Transaction<'_>, l: &GuestLink, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM guest_links WHERE expires_at <= ?1",
        [now - 3600],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO guest_links (hash, cid, guest_id, display_name, expires_at, used) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![l.hash, l.cid, l.guest_id, l.display_name, l.expires_at, l.used],
    )?;
    Ok(())
}

/// Marks a link used, only if it still is unused: the database decides a
/// race between two joins with the same link.
pub fn use_link(tx: &Transaction<'_>, hash: &str) -> rusqlite::Result<bool> {
    Ok(tx.execute(
        "UPDATE guest_links SET used = 1 WHERE hash = ?1 AND used = 0",
        [hash],
    )? == 1)
}

/// Everything the server keeps, read at start-up.
pub struct Loaded {
    pub conferences: Vec<Conference>,
    pub templates: Vec<Template>,
    pub tokens: Vec<TokenRow>,
    pub links: Vec<GuestLink>,
}

pub fn load(store: &Store) -> Result<Loaded, ServerError> {
    let loaded = store.read_blocking(|c| {
        let mut conferences = Vec::new();
        let mut stmt = c.prepare("SELECT id, body FROM conferences ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, body) = row?;
            // A row dais cannot read is reported and skipped, never dropped
            // from the database: a newer or repaired dais may read it.
            match serde_json::from_str(&body)
                .map_err(|e| e.to_string())
                .and_then(|v| model::conference_from_stored(&v))
            {
                Ok(conf) => conferences.push(conf),
                Err(e) => tracing::error!(%id, error = %e, "store: cannot read a stored conference; skipped"),
            }
        }
        let mut templates = Vec::new();
        let mut stmt = c.prepare("SELECT id, name, settings FROM templates ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        for row in rows {
            let (id, name, settings) = row?;
            match serde_json::from_str(&settings)
                .map_err(|e| e.to_string())
                .and_then(|v| model::parse_patch(&v).map_err(|e| format!("{e:?}")))
            {
                Ok(settings) => templates.push(Template { id, name, settings }),
                Err(e) => tracing::error!(id, error = %e, "store: cannot read a stored template; skipped"),
            }
        }
        let mut stmt = c.prepare("SELECT hash, kind, principal_kind, subject, expires_at FROM api_tokens")?;
        let tokens = stmt
            .query_map([], |r| {
                Ok(TokenRow {
                    hash: r.get(0)?,
                    kind: r.get(1)?,
                    principal_kind: r.get(2)?,
                    subject: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stmt = c.prepare("SELECT hash, cid, guest_id, display_name, expires_at, used FROM guest_links")?;
        let links = stmt
            .query_map([], |r| {
                Ok(GuestLink {
                    hash: r.get(0)?,
                    cid: r.get(1)?,
                    guest_id: r.get(2)?,
                    display_name: r.get(3)?,
                    expires_at: r.get(4)?,
                    used: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Loaded { conferences, templates, tokens, links })
    })?;
    Ok(loaded)
}

/// Whether a conference row exists (tests, diagnostics).
pub fn conference_exists(store: &Store, id: &str) -> Result<bool, ServerError> {
    let id = id.to_string();
    Ok(store.read_blocking(move |c| {
        c.query_row("SELECT 1 FROM conferences WHERE id = ?1", [&id], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
    })?)
}
