//! The core crate stays sans-IO because it cannot reach an IO library:
//! nothing it depends on, directly or through another crate (as
//! Cargo.lock resolves them), is a runtime, media, storage, HTTP, UI or
//! device crate. Adding one fails here, naming the path to it.

use std::collections::{BTreeMap, VecDeque};

/// Crates that do IO or bring a runtime; the core must reach none of them.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "mio",
    "gstreamer",
    "glib",
    "rusqlite",
    "libsqlite3-sys",
    "axum",
    "hyper",
    "reqwest",
    "slint",
    "alsa",
    "v4l",
    "evdev",
    "tracing-subscriber",
];

#[test]
fn the_core_reaches_no_io_crate() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock");
    let text = std::fs::read_to_string(root).expect("the workspace's Cargo.lock");
    let lock: toml::Table = toml::from_str(&text).expect("Cargo.lock parses");
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in lock["package"].as_array().expect("[[package]]") {
        let name = p["name"].as_str().unwrap().to_string();
        let list: Vec<String> = p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|d| {
                d.iter()
                    // "name" or "name version": the name is the first word.
                    .map(|s| s.as_str().unwrap().split(' ').next().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        deps.entry(name).or_default().extend(list);
    }
    assert!(deps.contains_key("dais-core"), "dais-core is in Cargo.lock");
    assert!(
        deps["dais"].iter().any(|d| d == "dais-core"),
        "the appliance depends on the core"
    );
    // Breadth-first from the core, remembering how each crate was reached.
    let mut via: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from(["dais-core".to_string()]);
    while let Some(name) = queue.pop_front() {
        for d in deps.get(&name).into_iter().flatten() {
            if !via.contains_key(d) && d != "dais-core" {
                via.insert(d.clone(), name.clone());
                queue.push_back(d.clone());
            }
        }
    }
    for bad in FORBIDDEN {
        if via.contains_key(*bad) {
            let mut path = vec![bad.to_string()];
            while let Some(from) = via.get(path.last().unwrap()) {
                path.push(from.clone());
            }
            path.reverse();
            panic!("the core crate reaches {bad}: {}", path.join(" -> "));
        }
    }
    // The check itself can fail: the appliance does reach them.
    assert!(deps["dais"].iter().any(|d| d == "tokio"));
}
