//! The room's settings as commands see and change them, and signing in
//! as a local user of the room's server.

use super::*;
use crate::store::RuntimeKey;

impl Loop {
    pub(super) fn settings_json(&self) -> serde_json::Value {
        // Secrets show themselves as "(set)" (config::Secret).
        let mut v = serde_json::to_value(&self.shared.settings).unwrap_or_default();
        v["room"]["name"] = json!(self.state.borrow().room_name);
        v
    }

    pub(super) async fn set_settings(
        &mut self,
        settings: serde_json::Value,
    ) -> Result<Reply, CommandError> {
        let serde_json::Value::Object(top) = &settings else {
            return Err(err(
                ErrorCode::BadRequest,
                "settings: an object such as {\"room\": {\"name\": \"Boardroom\"}}",
            ));
        };
        let mut name = None;
        let mut problems = Vec::new();
        for (section, v) in top {
            match (section.as_str(), v) {
                ("room", serde_json::Value::Object(room)) => {
                    for (k, v) in room {
                        match (k.as_str(), v.as_str()) {
                            ("name", Some(n)) if !n.trim().is_empty() && n.chars().count() <= 64 => {
                                name = Some(n.trim().to_string())
                            }
                            ("name", _) => problems.push("settings.room.name: 1 to 64 characters".to_string()),
                            (other, _) => problems.push(format!(
                                "settings.room.{other}: cannot change while running; edit the settings file and restart"
                            )),
                        }
                    }
                }
                (other, _) => problems.push(format!(
                    "settings.{other}: cannot change while running; edit the settings file and restart"
                )),
            }
        }
        if !problems.is_empty() {
            return Err(err(ErrorCode::BadRequest, problems.join("; ")));
        }
        if let Some(n) = name {
            self.shared
                .store
                .runtime_settings()
                .set(RuntimeKey::RoomName, &n)
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
            self.state.send_modify(|st| st.room_name = n);
        }
        Ok(Reply::Json(self.settings_json()))
    }

    pub(super) async fn login(
        &mut self,
        servers: Vec<String>,
        login: String,
        password: String,
    ) -> Result<Reply, CommandError> {
        // Signing in on any of the listed addresses that is this dais works;
        // a list of only other servers needs federation.
        if let Some(remote) = servers.iter().find(|s| !self.is_local(s))
            && servers.iter().all(|s| !self.is_local(s))
        {
            return Err(federation(remote));
        }
        let server = self.shared.server.clone();
        let l = login.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let form = [
                ("grant_type".to_string(), "password".to_string()),
                ("username".to_string(), l),
                ("password".to_string(), password),
            ]
            .into_iter()
            .collect();
            server.auth().grant(&form, server.now()).is_ok()
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Err(err(
                ErrorCode::Unauthorized,
                format!("{login}: unknown user or wrong password"),
            ));
        }
        let base = login.split('@').next().unwrap_or(&login).to_string();
        self.state.send_modify(|st| st.signed_in = Some(base));
        Ok(Reply::Done)
    }
}
