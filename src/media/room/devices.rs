//! The room's camera and microphone as the pipeline holds them: taken
//! out (privacy, standby, failure) with the slate or silence on air, put
//! back, switched between two cameras; and which of them a bus message
//! came from.

use super::*;

impl Room {
    /// Takes the camera out (privacy, standby, failure): the slate goes on
    /// air and the device is released.
    pub fn release_camera(&self) {
        self.video_input(Input::Fallback);
        let bin = self.camera_bin.lock().ok().and_then(|mut b| b.take());
        if let Some(bin) = bin {
            remove_source(&self.pipeline, &bin);
        }
    }

    /// Puts a (new) camera bin on air.
    pub fn restore_camera(&self) -> Result<(), MediaError> {
        let mut slot = self
            .camera_bin
            .lock()
            .map_err(|_| MediaError::link("camera"))?;
        if slot.is_none() {
            let bin =
                build::camera_source(&self.config.camera_target, &self.config.camera, "camera")?;
            self.threads.picture(&bin);
            self.pipeline
                .add(&bin)
                .map_err(|_| MediaError::link("camera"))?;
            link_pads(
                &bin.static_pad("src"),
                &self.vsel_camera,
                "camera → selector",
            )?;
            if bin.sync_state_with_parent().is_err() {
                let _ = bin.set_state(gst::State::Null);
                let _ = self.pipeline.remove(&bin);
                return Err(MediaError::State {
                    pipeline: "camera".into(),
                    state: "PLAYING".into(),
                    reason: "the camera did not start".into(),
                });
            }
            *slot = Some(bin);
        }
        self.video_input(Input::Device);
        Ok(())
    }

    /// Makes the main (`second == false`) or the second camera the
    /// room's camera. The caller restores the camera afterwards.
    pub fn select_camera(&self, second: bool) -> Result<(), MediaError> {
        let pick = if second {
            let t = self
                .config
                .content_target
                .clone()
                .ok_or(MediaError::Device {
                    device: "camera".into(),
                    reason: "the hardware profile names no second camera ([content])".into(),
                })?;
            (t, self.config.content.clone())
        } else {
            (
                self.config.camera_target.clone(),
                self.config.camera.clone(),
            )
        };
        if let Ok(mut a) = self.active_camera.lock() {
            *a = pick;
        }
        Ok(())
    }

    pub fn release_microphone(&self) {
        self.audio_input(Input::Fallback);
        let bin = self.mic_bin.lock().ok().and_then(|mut b| b.take());
        if let Some(bin) = bin {
            remove_source(&self.pipeline, &bin);
        }
    }

    pub fn restore_microphone(&self) -> Result<(), MediaError> {
        let mut slot = self
            .mic_bin
            .lock()
            .map_err(|_| MediaError::link("microphone"))?;
        if slot.is_none() {
            let bin = microphone_bin(
                &self.config.microphone_target,
                &self.config.microphone,
                "microphone",
            )?;
            self.pipeline
                .add(&bin)
                .map_err(|_| MediaError::link("microphone"))?;
            link_pads(
                &bin.static_pad("src"),
                &self.asel_mic,
                "microphone → selector",
            )?;
            if bin.sync_state_with_parent().is_err() {
                let _ = bin.set_state(gst::State::Null);
                let _ = self.pipeline.remove(&bin);
                return Err(MediaError::State {
                    pipeline: "microphone".into(),
                    state: "PLAYING".into(),
                    reason: "the microphone did not start".into(),
                });
            }
            *slot = Some(bin);
        }
        self.audio_input(Input::Device);
        Ok(())
    }

    /// Whether a bus message came from inside the camera or microphone bin.
    pub fn origin(&self, msg: &gst::Message) -> Option<&'static str> {
        let names = ancestry(msg);
        if names.iter().any(|n| n == "camera") {
            Some("camera")
        } else if names.iter().any(|n| n == "microphone") {
            Some("microphone")
        } else {
            None
        }
    }
}
