//! Outbound HTTP to another dais (signing in, placing a call) against far
//! ends on loopback that answer the ways real servers do: chunked bodies,
//! redirects (followed with the body, not forever, credentials kept to
//! their host), and TLS expected where there is none.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dais::outbound::Trust;
use dais::sfu::client::{self, ClientError};

/// A request as the far end got it.
#[derive(Debug, Clone)]
struct Got {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A far end on loopback answering each request with `answer(request)`
/// (the raw HTTP answer), recording what it got.
struct FarEnd {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl FarEnd {
    fn start(answer: impl Fn(&Got) -> String + Send + 'static) -> FarEnd {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((n, v)) = h.trim().split_once(':') {
                        headers.push((n.trim().to_string(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let got = Got {
                    line: line.trim().to_string(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                log.lock().unwrap().push(got.clone());
                let _ = stream.write_all(answer(&got).as_bytes());
            }
        });
        FarEnd { port, got }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

/// `body` sent chunked, in pieces of at most 7 bytes.
fn chunked(status: &str, body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for piece in body.as_bytes().chunks(7) {
        out.push_str(&format!("{:x}\r\n", piece.len()));
        out.push_str(std::str::from_utf8(piece).unwrap());
        out.push_str("\r\n");
    }
    out.push_str("0\r\n\r\n");
    out
}

fn redirect(status: &str, to: &str) -> String {
    format!("HTTP/1.1 {status}\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_chunked_answer_is_read_whole() {
    let far = FarEnd::start(|_| {
        chunked(
            "200 OK",
            r#"{"access_token":"a-token-longer-than-one-chunk","token_type":"Bearer","expires_in":3600}"#,
        )
    });
    let token = block_on(client::sign_in(
        &far.base(),
        &Trust::System,
        "room",
        "s3cret",
    ))
    .unwrap();
    assert_eq!(token, "a-token-longer-than-one-chunk");
    let got = far.got();
    assert_eq!(got[0].line, "POST /oauth2/v1/token HTTP/1.1");
    assert_eq!(
        got[0].body,
        "grant_type=client_credentials&client_id=room&client_secret=s3cret"
    );
    assert_eq!(
        got[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    // A refusal sent chunked is read too, and its description is the error.
    let far = FarEnd::start(|_| {
        chunked(
            "401 Unauthorized",
            r#"{"error":"invalid_client","error_description":"unknown client or wrong secret"}"#,
        )
    });
    match block_on(client::sign_in(
        &far.base(),
        &Trust::System,
        "room",
        "wrong",
    )) {
        Err(ClientError::SignIn { host, reason }) => {
            assert_eq!(host, format!("127.0.0.1:{}", far.port));
            assert_eq!(reason, "unknown client or wrong secret");
        }
        other => panic!("expected a sign-in refusal, got {other:?}"),
    }
}

#[test]
fn a_moved_api_is_followed_with_the_request_body_and_credentials_stay_with_their_host() {
    // The far end answers on its new address...
    let new = FarEnd::start(|g| {
        if g.line.starts_with("POST /api/v3.11/conferences") {
            chunked("200 OK", r#"{"conference":{"id":"4242"}}"#)
        } else {
            chunked("404 Not Found", r#"{"error":{"message":"no such path"}}"#)
        }
    });
    // ...and its old one says so with 307, which keeps method and body.
    // The new address is another host name (localhost, not 127.0.0.1).
    let to = format!("http://localhost:{}/api/v3.11/conferences", new.port);
    let old = FarEnd::start(move |_| redirect("307 Temporary Redirect", &to));
    let cid = block_on(client::place_call(
        &old.base(),
        &Trust::System,
        "token-1",
        "room",
        "ann",
        "Call from Room 1",
    ))
    .unwrap();
    assert_eq!(cid, "4242");
    let asked = old.got();
    assert_eq!(asked[0].header("authorization"), Some("Bearer token-1"));
    let followed = new.got();
    assert_eq!(followed.len(), 1, "{followed:?}");
    assert_eq!(followed[0].line, "POST /api/v3.11/conferences HTTP/1.1");
    let body: serde_json::Value = serde_json::from_str(&followed[0].body).unwrap();
    assert_eq!(body["invitations"][0]["id"], "ann", "{body}");
    assert_eq!(body["topic"], "Call from Room 1", "{body}");
    // The bearer token was for the first host only.
    assert_eq!(followed[0].header("authorization"), None, "{followed:?}");
}

#[test]
fn a_redirect_loop_is_a_clear_error_not_a_hang() {
    let far = FarEnd::start(|_| redirect("308 Permanent Redirect", "/oauth2/v1/token"));
    match block_on(client::sign_in(
        &far.base(),
        &Trust::System,
        "room",
        "s3cret",
    )) {
        Err(ClientError::Unreachable { host, reason }) => {
            assert_eq!(host, format!("127.0.0.1:{}", far.port));
            assert!(reason.contains("more than 5 redirects"), "{reason}");
        }
        other => panic!("expected a redirect error, got {other:?}"),
    }
    // The first request and five redirects, then it stopped.
    assert_eq!(far.got().len(), 6);
}

#[test]
fn https_to_a_server_without_tls_fails_with_a_reason() {
    let far = FarEnd::start(|_| chunked("200 OK", r#"{"access_token":"x"}"#));
    let base = format!("https://127.0.0.1:{}", far.port);
    match block_on(client::sign_in(&base, &Trust::System, "room", "s3cret")) {
        Err(ClientError::Unreachable { reason, .. }) => {
            assert!(!reason.is_empty());
            // Nothing was taken for an answer.
            assert!(!reason.contains("access_token"), "{reason}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    // A refused connection names the cause.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    match block_on(client::sign_in(
        &format!("http://127.0.0.1:{port}"),
        &Trust::System,
        "room",
        "s3cret",
    )) {
        Err(ClientError::Unreachable { reason, .. }) => {
            assert!(reason.to_lowercase().contains("refused"), "{reason}")
        }
        other => panic!("expected connection refused, got {other:?}"),
    }
}
