//! Typed repositories over the store's tables: the rest of dais asks for
//! what it keeps (a boot, a camera preset, a setting changed at run time)
//! and never writes SQL. The conference server's own tables have theirs
//! in `server/persist.rs`.

use rusqlite::OptionalExtension;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Store, StoreError};

/// This start of dais as the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootInfo {
    pub id: i64,
    /// How many times dais has started on this data directory.
    pub count: i64,
    /// Whether the run before this one stopped cleanly (`None` on first start).
    pub previous_clean: Option<bool>,
}

/// Each start and clean stop of dais on this data directory (`boots`).
pub struct Boots<'a>(&'a Store);

impl Boots<'_> {
    /// Records a start at `now` (Unix seconds) by `version`.
    pub async fn start(&self, now: i64, version: &'static str) -> Result<BootInfo, StoreError> {
        self.0
            .write(move |tx| {
                let previous: Option<Option<i64>> = tx
                    .query_row(
                        "SELECT stopped_at FROM boots ORDER BY id DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                tx.execute(
                    "INSERT INTO boots (started_at, version) VALUES (?1, ?2)",
                    (now, version),
                )?;
                let id = tx.last_insert_rowid();
                let count: i64 = tx.query_row("SELECT count(*) FROM boots", [], |r| r.get(0))?;
                Ok(BootInfo {
                    id,
                    count,
                    previous_clean: previous.map(|stopped| stopped.is_some()),
                })
            })
            .await
    }

    /// Records that boot `id` stopped cleanly at `now`. Blocking: it runs
    /// as the store closes, after the runtime's tasks are gone.
    pub fn stopped_blocking(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.0.write_blocking(move |tx| {
            tx.execute("UPDATE boots SET stopped_at = ?1 WHERE id = ?2", (now, id))
                .map(|_| ())
        })
    }
}

/// A camera's saved positions (`camera_presets`): the controls of camera
/// `camera` (its device path) under preset number `preset`.
pub struct CameraPresets<'a>(&'a Store);

impl CameraPresets<'_> {
    /// Saves (or replaces) a preset at `now`.
    pub async fn save<T: Serialize>(
        &self,
        camera: &str,
        preset: u8,
        controls: &T,
        now: i64,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(controls)
            .map_err(|e| StoreError::Row(format!("camera preset: {e}")))?;
        let camera = camera.to_string();
        self.0
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO camera_presets (camera, preset, controls, saved_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(camera, preset) DO UPDATE SET controls = excluded.controls, saved_at = excluded.saved_at",
                    (&camera, preset, &body, now),
                )
                .map(|_| ())
            })
            .await
    }

    /// The preset, if one is saved. A row this version cannot read is an
    /// error naming it, not a missing preset.
    pub async fn load<T: DeserializeOwned + Send + 'static>(
        &self,
        camera: &str,
        preset: u8,
    ) -> Result<Option<T>, StoreError> {
        let key = camera.to_string();
        let body: Option<String> = self
            .0
            .read(move |c| {
                c.query_row(
                    "SELECT controls FROM camera_presets WHERE camera = ?1 AND preset = ?2",
                    (&key, preset),
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        body.map(|b| {
            serde_json::from_str(&b)
                .map_err(|e| StoreError::Row(format!("camera preset {preset} of {camera}: {e}")))
        })
        .transpose()
    }
}

/// A setting changed while dais runs (`setSettings`), kept across restarts
/// in `runtime_settings`. This is the top settings layer: it wins over
/// every file (defaults < profile < provisioned < local < run time), for
/// the keys listed here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKey {
    /// The room's name, as the panel and the control network show it.
    RoomName,
}

impl RuntimeKey {
    pub const ALL: [RuntimeKey; 1] = [RuntimeKey::RoomName];

    /// The settings key it overrides.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKey::RoomName => "room.name",
        }
    }
}

/// The run-time settings layer (`runtime_settings`).
pub struct RuntimeSettings<'a>(&'a Store);

impl RuntimeSettings<'_> {
    pub async fn get(&self, key: RuntimeKey) -> Result<Option<String>, StoreError> {
        self.0
            .read(move |c| {
                c.query_row(
                    "SELECT value FROM runtime_settings WHERE key = ?1",
                    [key.name()],
                    |r| r.get(0),
                )
                .optional()
            })
            .await
    }

    pub async fn set(&self, key: RuntimeKey, value: &str) -> Result<(), StoreError> {
        let value = value.to_string();
        self.0
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO runtime_settings (key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key.name(), &value),
                )
                .map(|_| ())
            })
            .await
    }
}

impl Store {
    pub fn boots(&self) -> Boots<'_> {
        Boots(self)
    }

    pub fn camera_presets(&self) -> CameraPresets<'_> {
        CameraPresets(self)
    }

    pub fn runtime_settings(&self) -> RuntimeSettings<'_> {
        RuntimeSettings(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Controls {
        pan: i32,
        zoom: i32,
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn what_the_repositories_keep_is_still_there_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let store = Store::open(dir.path()).unwrap();
            let first = store.boots().start(100, "1.0").await.unwrap();
            assert_eq!(first.count, 1);
            assert_eq!(first.previous_clean, None);
            let cam = "/dev/v4l/by-id/usb-cam";
            store
                .camera_presets()
                .save(cam, 3, &Controls { pan: 10, zoom: 2 }, 101)
                .await
                .unwrap();
            store
                .camera_presets()
                .save(cam, 3, &Controls { pan: -5, zoom: 4 }, 102)
                .await
                .unwrap();
            store
                .runtime_settings()
                .set(RuntimeKey::RoomName, "Boardroom 2")
                .await
                .unwrap();
            // This run stops uncleanly: no stopped_blocking.
            store.close();
        });
        rt().block_on(async {
            let store = Store::open(dir.path()).unwrap();
            let second = store.boots().start(200, "1.0").await.unwrap();
            assert_eq!((second.count, second.previous_clean), (2, Some(false)));
            let p: Option<Controls> = store
                .camera_presets()
                .load("/dev/v4l/by-id/usb-cam", 3)
                .await
                .unwrap();
            assert_eq!(
                p,
                Some(Controls { pan: -5, zoom: 4 }),
                "the later save wins"
            );
            let none: Option<Controls> = store
                .camera_presets()
                .load("/dev/v4l/by-id/usb-cam", 4)
                .await
                .unwrap();
            assert_eq!(none, None);
            assert_eq!(
                store
                    .runtime_settings()
                    .get(RuntimeKey::RoomName)
                    .await
                    .unwrap()
                    .as_deref(),
                Some("Boardroom 2")
            );
            store.boots().stopped_blocking(second.id, 250).unwrap();
            store.close();
        });
        rt().block_on(async {
            let store = Store::open(dir.path()).unwrap();
            let third = store.boots().start(300, "1.0").await.unwrap();
            assert_eq!((third.count, third.previous_clean), (3, Some(true)));
            store.close();
        });
    }

    #[test]
    fn a_preset_this_version_cannot_read_is_named_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let store = Store::open(dir.path()).unwrap();
            store
                .camera_presets()
                .save("/dev/video0", 1, &serde_json::json!({"pan": "left"}), 1)
                .await
                .unwrap();
            let e = store
                .camera_presets()
                .load::<Controls>("/dev/video0", 1)
                .await
                .unwrap_err();
            assert!(
                e.to_string().contains("camera preset 1 of /dev/video0"),
                "{e}"
            );
            store.close();
        });
    }
}
