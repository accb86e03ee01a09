//! The REST API keeps to its OpenAPI document: schemathesis (a
//! property-based OpenAPI fuzzer, installed by
//! `scripts/install-schemathesis.sh`) generates requests from
//! `/api/openapi.json`, valid and invalid, and runs every check on the live
//! dais's answers: no server errors, only documented status codes, bodies
//! and content types as documented, valid requests accepted, invalid ones
//! refused, authentication required where documented. A client written
//! from the document (TrueConf API v3.11's shape) gets what it expects.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// The fuzzer's time budget: it repeats generated cases until it is spent.
const BUDGET_SECONDS: u32 = 60;

/// The schemathesis the install script put in place.
fn schemathesis() -> std::path::PathBuf {
    let script = std::fs::read_to_string(repo().join("scripts/install-schemathesis.sh"))
        .expect("scripts/install-schemathesis.sh");
    let version = script
        .lines()
        .find_map(|l| l.strip_prefix("VERSION="))
        .expect("VERSION= in the install script")
        .trim()
        .to_string();
    let tools = std::env::var_os("DAIS_TOOLS")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| std::path::Path::new(&c).join("dais"))
        })
        .unwrap_or_else(|| {
            std::path::Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache/dais")
        });
    let bin = tools.join(format!("schemathesis-{version}/bin/schemathesis"));
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-schemathesis.sh (make test does)",
        bin.display()
    );
    bin
}

#[test]
fn every_generated_request_is_answered_as_the_openapi_document_says() {
    let bin = schemathesis();
    let tmp = tempfile::tempdir().unwrap();
    let d = start_room(
        &tmp.path().join("room"),
        "smpte",
        "",
        &["--api-client", "crm:correct-horse-battery"],
    );
    let api = Api::new(&d.http).login_client("crm", "correct-horse-battery");
    let token = api.token.clone().expect("a token");
    let report = tmp.path().join("report");
    let budget: u32 = std::env::var("DAIS_OPENAPI_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(BUDGET_SECONDS);
    let mut cmd = Command::new(&bin);
    cmd.arg("--config-file")
        .arg(repo().join("tests/data/schemathesis.toml"))
        .arg("run")
        .arg(d.url("/api/openapi.json"))
        .args(["--checks", "all"])
        // DAIS_OPENAPI_SECONDS runs it longer, to explore.
        .args(["--max-time", &budget.to_string()])
        // The same cases on every run, so a failure comes back
        // (DAIS_OPENAPI_SEED explores others).
        .args([
            "--seed",
            &std::env::var("DAIS_OPENAPI_SEED").unwrap_or_else(|_| "20261207".into()),
        ])
        // One worker: the cases and their order follow from the seed, so a
        // slower machine runs a prefix of what a faster one runs.
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .arg("--report-dir")
        .arg(&report)
        // Its caches go with the run, not into the checkout.
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env(
            "HYPOTHESIS_STORAGE_DIRECTORY",
            tmp.path().join("hypothesis"),
        );
    let out = run_with_deadline(cmd, Duration::from_secs(u64::from(budget) + 600));
    // Long lines (schemathesis's own tracebacks, generated bodies) cut.
    let text: String = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .lines()
    .map(|l| l.chars().take(600).collect::<String>() + "\n")
    .collect();
    assert!(
        out.status.success(),
        "schemathesis found failures ({}):\n{text}\n--- dais log (tail) ---\n{}",
        out.status,
        tail(&d.log_text(), 60)
    );
    // It ran cases, and the server never failed.
    assert!(text.contains("passed"), "{text}");
    assert!(!d.log_text().contains("panicked"), "{}", d.log_text());
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `cmd`, killing it past `limit`.
fn run_with_deadline(mut cmd: Command, limit: Duration) -> std::process::Output {
    use std::process::Stdio;
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start schemathesis");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("schemathesis output"),
        Err(_) => {
            // SAFETY: kill(2) on the child's pid, which we started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            panic!("schemathesis ran past {limit:?}");
        }
    }
}
