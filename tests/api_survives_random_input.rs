//! Random methods, paths, headers and bodies thrown at the whole HTTP
//! router: nothing panics, nothing answers 500, and API errors are JSON.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dais::clock::ManualClock;
use dais::server::auth::{ApiClient, Auth, Principal, Secret};
use dais::server::{Server, ServerConfig};
use proptest::prelude::*;
use tower::ServiceExt;

struct Fixture {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    token: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = dais::store::Store::open(dir.path()).unwrap();
    let auth = Auth::new(
        vec![ApiClient {
            id: "crm".into(),
            secret: Secret::Plain("sekrit-sekrit".into()),
        }],
        vec![],
        3600,
    );
    let server = Server::open(
        store,
        Arc::new(ManualClock::new(1_800_000_000)),
        ServerConfig::default(),
        auth,
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issued = server
        .auth()
        .issue(Principal::Client { id: "crm".into() }, 1_800_000_000);
    let patch = dais::server::model::parse_patch(&serde_json::json!({
        "id": "x1", "topic": "t", "owner": "o", "state": "running", "allow_guests": true, "waiting_room_enabled": true
    }))
    .unwrap();
    rt.block_on(server.create(&Principal::Client { id: "crm".into() }, patch))
        .unwrap();
    let router =
        dais::server::api::router(server).layer(axum::extract::DefaultBodyLimit::max(64 * 1024));
    Fixture {
        rt,
        router,
        token: issued.access_token,
        _dir: dir,
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "api", "v3.11", "v3.3", "v3.", "v4.0", "conferences", "participants", "run", "stop", "ics",
            "calendars", "software", "clients", "templates", "invite", "invitations", "waiting_room",
            "admit_all", "admit", "reject", "oauth2", "v1", "token", "c", "openapi.json", "x1", "1", "start",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z0-9%._~-]{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        ".{0,20}".prop_map(serde_json::Value::String),
        prop::sample::select(vec![
            "running", "stopped", "S|L Auto", "2$a*b", "$Ann", "1234"
        ])
        .prop_map(|s| serde_json::json!(s)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "id",
                        "topic",
                        "owner",
                        "type",
                        "mode",
                        "max_participants",
                        "max_podiums",
                        "schedule",
                        "rights",
                        "guest",
                        "user",
                        "state",
                        "pin",
                        "host_pin",
                        "invitations",
                        "participants",
                        "token",
                        "display_name",
                        "name",
                        "settings",
                        "days",
                        "time",
                        "duration",
                        "start_time",
                        "role",
                        "podium",
                        "waiting_room",
                        "mic_muted",
                        "chat_send",
                    ])
                    .prop_map(str::to_string),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(Vec::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn the_router_never_fails_on_outside_input(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        segs in prop::collection::vec(segment(), 1..7),
        query in prop::option::of("[a-z_=&%$0-9*]{0,30}"),
        body in body(),
        authed in any::<bool>(),
        form in any::<bool>(),
    ) {
        thread_local! { static FX: Fixture = fixture(); }
        FX.with(|fx| {
            let mut uri = format!("/{}", segs.join("/"));
            if let Some(q) = &query {
                uri.push('?');
                uri.push_str(q);
            }
            let Ok(mut req) = Request::builder().method(method).uri(&uri).body(Body::from(body.clone())) else {
                return Ok(());
            };
            if authed {
                req.headers_mut().insert("authorization", format!("Bearer {}", fx.token).parse().unwrap());
            }
            let ctype = if form { "application/x-www-form-urlencoded" } else { "application/json" };
            req.headers_mut().insert("content-type", ctype.parse().unwrap());
            let resp = fx.rt.block_on(fx.router.clone().oneshot(req)).unwrap();
            let status = resp.status();
            prop_assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{} {} -> 500", method, uri);
            let bytes = fx.rt.block_on(axum::body::to_bytes(resp.into_body(), 1 << 20)).unwrap();
            if uri.starts_with("/api/v3.") && status != StatusCode::METHOD_NOT_ALLOWED && !uri.contains("/ics") {
                prop_assert!(
                    bytes.is_empty() || serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                    "{} {} -> {} non-JSON {:?}", method, uri, status, String::from_utf8_lossy(&bytes)
                );
            }
            Ok(())
        })?;
    }
}
