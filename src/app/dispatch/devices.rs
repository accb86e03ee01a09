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
                self.shared
                    .store
                    .camera_presets()
                    .save(&key, preset, &p, self.now() as i64)
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
                Ok(Reply::Done)
            }
            PresetAction::Recall => {
                let p: camera::Preset = self
                    .shared
                    .store
                    .camera_presets()
                    .load(&key, preset)
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?
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
