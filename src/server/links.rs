//! Guest links (`software/clients`): the web client URL, the iframe and the
//! `trueconf:` / Android deeplinks that let a guest join a conference
//! without an account. Each call makes a new token that is valid for one
//! minute and for one join.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::auth::{random_hex, token_hash};

/// A guest link as stored (only the token's hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLink {
    pub hash: String,
    pub cid: String,
    pub guest_id: String,
    pub display_name: String,
    pub expires_at: i64,
    pub used: bool,
}

/// Why a link token does not let someone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the guest link is not valid")]
    Unknown,
    #[error("the guest link was already used")]
    Used,
    #[error("the guest link has expired (links are valid for one minute)")]
    Expired,
    #[error("the guest link belongs to another conference")]
    OtherConference,
}

/// The `user` parameter: `2$<id>*<Display Name>` picks the guest id,
/// `$<Display Name>` lets the server make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestUser {
    pub id: Option<String>,
    pub display_name: String,
}

/// The longest `user` parameter: `$` and a display name of 128
/// characters (in the `2$` form, the id and the name share it).
pub const USER_MAX: usize = 129;

pub fn parse_user(s: &str) -> Result<GuestUser, String> {
    let name_ok = |n: &str| crate::conference::printable(n, 128);
    if s.chars().count() > USER_MAX {
        return Err(format!("user: at most {USER_MAX} characters"));
    }
    if let Some(rest) = s.strip_prefix("2$") {
        let (id, name) = rest
            .split_once('*')
            .ok_or("user: the 2$ form is 2$<id>*<Display Name>; '*' is missing")?;
        if !name_ok(id) {
            return Err("user: the guest id after 2$ must be 1 to 128 printable characters".into());
        }
        if !name_ok(name) {
            return Err(
                "user: the display name after '*' must be 1 to 128 printable characters".into(),
            );
        }
        return Ok(GuestUser {
            id: Some(id.trim().to_string()),
            display_name: name.trim().to_string(),
        });
    }
    if let Some(name) = s.strip_prefix('$') {
        if !name_ok(name) {
            return Err(
                "user: the display name after $ must be 1 to 128 printable characters".into(),
            );
        }
        return Ok(GuestUser {
            id: None,
            display_name: name.trim().to_string(),
        });
    }
    Err("user: expected 2$<id>*<Display Name> or $<Display Name>".into())
}

/// What must be escaped in a URL fragment value or a `trueconf:` parameter:
/// everything but letters, digits and `-._~`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn pct(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// A new link token in TrueConf's shape: `$2<hex>*<issued>*<hex>`.
pub fn new_token(issued: i64) -> String {
    format!("$2{}*{issued}*{}", random_hex(16), random_hex(16))
}

/// Makes a link for a guest and the stored record for it.
pub fn issue(cid: &str, user: &GuestUser, now: i64, ttl: i64) -> (String, GuestLink) {
    let token = new_token(now);
    let guest_id = user
        .id
        .clone()
        .unwrap_or_else(|| format!("guest_{}", &random_hex(6)));
    let link = GuestLink {
        hash: token_hash(&token),
        cid: cid.to_string(),
        guest_id,
        display_name: user.display_name.clone(),
        expires_at: now + ttl,
        used: false,
    };
    (token, link)
}

/// Checks a token for `cid` at `now`. Marking it used is the caller's job,
/// together with persisting that.
pub fn check<'a>(
    link: Option<&'a GuestLink>,
    cid: &str,
    now: i64,
) -> Result<&'a GuestLink, LinkError> {
    let link = link.ok_or(LinkError::Unknown)?;
    if link.cid != cid {
        return Err(LinkError::OtherConference);
    }
    if link.used {
        return Err(LinkError::Used);
    }
    if now >= link.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(link)
}

/// The `software/clients` answer for one link.
pub fn clients_json(base: &str, host: &str, cid: &str, token: &str, link: &GuestLink) -> Value {
    let login = format!("*guest*{}", pct(&link.display_name));
    let fragment = format!("login={login}&token={token}&lang=auto");
    let web_url = format!("{base}/webrtc/{}#{fragment}", pct(cid));
    let iframe = format!(
        "<iframe src=\"{web_url}\" allowfullscreen=\"allowfullscreen\" allow=\"microphone; camera; autoplay; display-capture\"></iframe>"
    );
    // The deeplink grammar is the trueconf: protocol's (seed 003), with the
    // link token as a one-time password.
    let default = format!(
        "trueconf:\\c\\{cid}@{host}%23vcs&h={host}&force=1&templogin=1&login={login}&password={token}&encrypt=0&autoclose=1"
    );
    let android_inner = format!(
        "\\c\\{cid}%40{host}%23vcs%26h%3d{host}%26force%3d1%26templogin%3d1%26login%3d{login}%26password%3d{token}%26encrypt%3d0%26autoclose%3d1"
    );
    let android =
        format!("intent:{android_inner}#Intent;scheme=trueconf;package=com.trueconf.videochat;end");
    json!({
        "clients": [{
            "name": "TrueConf Web",
            "type": "web",
            "platform": "webrtc",
            "download_url": "",
            "download_urls": null,
            "market_url": "",
            "web_url": web_url,
            "iframe": iframe,
            "deeplinks": {"default": default, "android": android},
            "guest_id": link.guest_id,
            "display_name": link.display_name,
            "expires_at": link.expires_at,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_user_forms_parse() {
        assert_eq!(
            parse_user("2$Ian Taylor*Ian Taylor").unwrap(),
            GuestUser {
                id: Some("Ian Taylor".into()),
                display_name: "Ian Taylor".into()
            }
        );
        assert_eq!(
            parse_user("$Иван Иванов").unwrap().display_name,
            "Иван Иванов"
        );
        assert!(parse_user("2$noname").is_err());
        assert!(parse_user("Ian").is_err());
        assert!(parse_user("$").is_err());
        assert!(parse_user("2$*Name").is_err());
    }

    #[test]
    fn tokens_are_single_use_and_expire() {
        let (_token, mut link) = issue("123", &parse_user("$Ann").unwrap(), 1000, 60);
        assert!(check(Some(&link), "123", 1059).is_ok());
        assert_eq!(check(Some(&link), "123", 1060), Err(LinkError::Expired));
        assert_eq!(
            check(Some(&link), "999", 1000),
            Err(LinkError::OtherConference)
        );
        link.used = true;
        assert_eq!(check(Some(&link), "123", 1000), Err(LinkError::Used));
        assert_eq!(check(None, "123", 1000), Err(LinkError::Unknown));
    }

    #[test]
    fn links_follow_the_seed_shapes() {
        let (token, link) = issue(
            "0987654321",
            &parse_user("$Иван Иванов").unwrap(),
            1619898725,
            60,
        );
        let v = clients_json(
            "https://video.company.com",
            "video.company.com",
            "0987654321",
            &token,
            &link,
        );
        let web = v["clients"][0]["web_url"].as_str().unwrap();
        assert!(web.starts_with("https://video.company.com/webrtc/0987654321#login=*guest*%D0%98%D0%B2%D0%B0%D0%BD%20%D0%98%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2&token=$2"), "{web}");
        assert!(web.ends_with("&lang=auto"));
        let iframe = v["clients"][0]["iframe"].as_str().unwrap();
        assert!(iframe.contains("allow=\"microphone; camera; autoplay; display-capture\""));
        let d = v["clients"][0]["deeplinks"]["default"].as_str().unwrap();
        assert!(d.starts_with("trueconf:\\c\\0987654321@video.company.com%23vcs&h=video.company.com&force=1&templogin=1&login=*guest*%D0%98"), "{d}");
        assert!(d.ends_with("&encrypt=0&autoclose=1"));
        let a = v["clients"][0]["deeplinks"]["android"].as_str().unwrap();
        assert!(
            a.starts_with(
                "intent:\\c\\0987654321%40video.company.com%23vcs%26h%3dvideo.company.com"
            ),
            "{a}"
        );
        assert!(a.ends_with("#Intent;scheme=trueconf;package=com.trueconf.videochat;end"));
    }
}
