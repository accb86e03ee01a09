//! The shipped unit passes `systemd-analyze verify` and keeps its
//! hardening, checked against the binary this build produced.

mod common;

use std::process::Command;

fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::repo().join("systemd/dais.service")).unwrap();
    let unit = dir.join("dais.service");
    std::fs::write(&unit, text.replace("/usr/bin/dais", common::BIN)).unwrap();
    unit
}

#[test]
fn unit_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(tmp.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze is installed by scripts/install-deps.sh");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unit_is_a_watched_notify_service_with_its_own_user() {
    let text = std::fs::read_to_string(common::repo().join("systemd/dais.service")).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "User=dais",
        "SupplementaryGroups=video audio input render",
        "StateDirectory=dais",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
    ] {
        assert!(text.lines().any(|l| l.trim() == line), "missing {line}");
    }
}

#[test]
fn unit_exposure_stays_low() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(tmp.path());
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for dais.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(
        level <= 3.0,
        "exposure {level} > 3.0 (systemd rates <= 3.0 as OK):\n{text}"
    );
}

#[test]
fn the_trueconf_handler_desktop_file_validates() {
    let path = common::repo().join("desktop/dais-open.desktop");
    let out = Command::new("desktop-file-validate")
        .arg(&path)
        .output()
        .expect("desktop-file-validate is installed by scripts/install-deps.sh");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("MimeType=x-scheme-handler/trueconf;"));
    assert!(text.contains("Exec=dais open %u"));
}
