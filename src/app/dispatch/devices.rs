//! The room's own devices as commands reach them: the speaker's volume on
//! its ALSA mixer, camera presets on the V4L2 camera (kept in the store),
//! and the camera's on-air state following the room's.

use super::*;

impl Loop {
    /// Puts the speaker at `volume`: on the card's own mixer when it has
    /// one, its playback switch on (codecs often come up muted), the
    /// pipeline then passing sound at full level; else in the pipeline.
    pub(super) async fn speaker_volume(&self, volume: u8) -> Result<(), CommandError> {
        let card = self
            .state
            .borrow()
            .hardware
            .as_ref()
            .and_then(|h| match &h.speaker {
                SpeakerTarget::Alsa { device, .. } => mixer::card_of(device),
                _ => None,
            });
        let hw = match card {
            Some(card) => tokio::task::spawn_blocking(move || {
                let m = AlsaMixer::open(&card)?;
                mixer::set_percent(&m, mixer::Direction::Playback, volume)?;
                mixer::unmute_outputs(&m).map(|_| ())
            })
            .await
            .map_err(|e| err(ErrorCode::Internal, e.to_string()))?
            .map_err(
                |e| tracing::warn!(error = %e, "speaker mixer unusable; using software volume"),
            )
            .is_ok(),
            None => false,
        };
        if let Some(m) = &self.media {
            m.volume(if hw { 100 } else { volume }).await;
        }
        Ok(())
    }

    /// The room camera's device node, when it is a V4L2 camera.
    pub(super) fn v4l2_camera(&self) -> Result<std::path::PathBuf, CommandError> {
        let target = self
            .state
            .borrow()
            .hardware
            .as_ref()
            .map(|h| h.camera.clone());
        match target {
            Some(CameraTarget::V4l2 { device, .. }) => Ok(device),
            Some(t) => Err(err(
                ErrorCode::Unavailable,
                format!("the camera ({t}) is not a V4L2 device: it has no camera controls"),
            )),
            None => Err(err(ErrorCode::Unavailable, "no camera")),
        }
    }

    pub(super) async fn camera_preset(
        &mut self,
        action: PresetAction,
        preset: u8,
    ) -> Result<Reply, CommandError> {
        let device = self.v4l2_camera()?;
        let key = device.display().to_string();
        match action {
            PresetAction::Store => {
                let d = device.clone();
                let p = tokio::task::spawn_blocking(move || {
                    let cam = V4lCamera::open(&d).map_err(device_err)?;
                    camera::capture(&cam).map_err(device_err)
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))??;
                let body = serde_json::to_string(&p).unwrap_or_default();
                self.shared
                    .store
                    .write(move |tx| {
                        tx.execute(
                            "INSERT INTO camera_presets (camera, preset, controls, saved_at) VALUES (?1, ?2, ?3, strftime('%s','now'))
                             ON CONFLICT(camera, preset) DO UPDATE SET controls = excluded.controls, saved_at = excluded.saved_at",
                            (&key, preset, &body),
                        )
                        .map(|_| ())
                    })
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
                Ok(Reply::Done)
            }
            PresetAction::Recall => {
                let k = key.clone();
                let body: Option<String> = self
                    .shared
                    .store
                    .read(move |c| {
                        use rusqlite::OptionalExtension;
                        c.query_row(
                            "SELECT controls FROM camera_presets WHERE camera = ?1 AND preset = ?2",
                            (&k, preset),
                            |r| r.get(0),
                        )
                        .optional()
                    })
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
                let p: camera::Preset = body
                    .and_then(|b| serde_json::from_str(&b).ok())
                    .ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!("preset {preset} is not stored for {key}"),
                        )
                    })?;
                tokio::task::spawn_blocking(move || {
                    let cam = V4lCamera::open(&device).map_err(device_err)?;
                    camera::recall(&cam, &p).map_err(device_err)
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))??;
                Ok(Reply::Done)
            }
        }
    }

    /// Starts or stops the camera to match standby and privacy, and
    /// blanks the display in standby.
    pub(super) async fn sync_camera(&mut self) {
        let want = self.state.borrow().wants_camera();
        let blank = self.state.borrow().activity == Activity::Standby;
        if let Some(m) = &self.media {
            if want != self.camera_on {
                m.camera(want).await;
            }
            if blank != self.blank {
                m.blank(blank).await;
            }
        }
        self.camera_on = want;
        self.blank = blank;
    }
}
