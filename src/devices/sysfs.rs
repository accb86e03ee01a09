//! Finding devices by stable identifiers in sysfs and procfs.
//!
//! Kernel device numbers (`/dev/video2`, ALSA card 1, `card0`) change with
//! plug order; USB vendor:product ids, `/dev/v4l/by-id` links, ALSA card ids
//! and DRM connector names do not. These functions turn the stable names a
//! hardware profile uses into the device nodes GStreamer needs.
//!
//! Every function takes a [`Root`] so tests run against a recorded tree
//! under `tests/data/` or a temporary directory instead of this machine's.

use std::fs;
use std::path::{Path, PathBuf};

/// The filesystem root that `/sys`, `/proc` and `/dev` are read under.
#[derive(Debug, Clone)]
pub struct Root(pub PathBuf);

impl Default for Root {
    fn default() -> Self {
        Root(PathBuf::from("/"))
    }
}

impl Root {
    fn join(&self, abs: &str) -> PathBuf {
        self.0.join(abs.trim_start_matches('/'))
    }

    fn read(&self, abs: impl AsRef<Path>) -> Option<String> {
        let p = abs.as_ref();
        let p = if p.starts_with(&self.0) {
            p.to_path_buf()
        } else {
            self.join(&p.to_string_lossy())
        };
        fs::read_to_string(p).ok().map(|s| s.trim().to_string())
    }

    /// Maps a path under this root back to the absolute path the kernel uses.
    fn strip(&self, p: &Path) -> PathBuf {
        match p.strip_prefix(&self.0) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => p.to_path_buf(),
        }
    }
}

/// A V4L2 node as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2Node {
    /// `/dev/videoN`
    pub dev: PathBuf,
    pub name: String,
    /// 0 for a device's primary (capture) node; metadata nodes have 1.
    pub index: u32,
    pub usb_id: Option<(u16, u16)>,
}

/// Lists V4L2 nodes, primary nodes first.
pub fn v4l2_nodes(root: &Root) -> Vec<V4l2Node> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(root.join("/sys/class/video4linux")) else {
        return out;
    };
    for e in entries.flatten() {
        let dir = e.path();
        let node = e.file_name().to_string_lossy().to_string();
        if !node.starts_with("video") {
            continue;
        }
        let name = root.read(dir.join("name")).unwrap_or_default();
        let index = root
            .read(dir.join("index"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let usb_id = fs::canonicalize(dir.join("device"))
            .ok()
            .and_then(|d| usb_id_above(&d));
        out.push(V4l2Node {
            dev: PathBuf::from("/dev").join(&node),
            name,
            index,
            usb_id,
        });
    }
    out.sort_by(|a, b| (a.index, &a.dev).cmp(&(b.index, &b.dev)));
    out
}

/// Walks up from a device directory to the USB device that holds it.
fn usb_id_above(start: &Path) -> Option<(u16, u16)> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let vendor = fs::read_to_string(d.join("idVendor")).ok();
        let product = fs::read_to_string(d.join("idProduct")).ok();
        if let (Some(v), Some(p)) = (vendor, product) {
            return Some((
                u16::from_str_radix(v.trim(), 16).ok()?,
                u16::from_str_radix(p.trim(), 16).ok()?,
            ));
        }
        dir = d.parent();
    }
    None
}

/// Resolves a device path given in a profile (often a `/dev/v4l/by-id`
/// link) to the node it points at now.
pub fn resolve_dev_path(root: &Root, path: &str) -> Option<PathBuf> {
    let p = root.join(path);
    let real = fs::canonicalize(&p).ok()?;
    Some(root.strip(&real))
}

/// An ALSA card as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlsaCard {
    pub number: u32,
    /// The short id used in `hw:CARD=<id>` (e.g. `Speakerphone`).
    pub id: String,
    /// The long name (e.g. `Jabra SPEAK 510 USB`).
    pub name: String,
    pub usb_id: Option<(u16, u16)>,
}

/// Parses `/proc/asound/cards` and adds each card's USB id.
pub fn alsa_cards(root: &Root) -> Vec<AlsaCard> {
    let Some(text) = root.read("/proc/asound/cards") else {
        return Vec::new();
    };
    let mut cards = parse_asound_cards(&text);
    for c in &mut cards {
        c.usb_id = root
            .read(format!("/proc/asound/card{}/usbid", c.number))
            .and_then(|s| crate::config::parse_usb_id(&s));
    }
    cards
}

/// The `/proc/asound/cards` format: ` N [Id             ]: driver - Long name`
/// followed by an indented detail line.
pub fn parse_asound_cards(text: &str) -> Vec<AlsaCard> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let Some((num, rest)) = t.split_once(' ') else {
            continue;
        };
        let Ok(number) = num.parse::<u32>() else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some((id, rest)) = rest.split_once(']') else {
            continue;
        };
        let name = rest
            .split_once(" - ")
            .map(|(_, n)| n.trim().to_string())
            .unwrap_or_default();
        out.push(AlsaCard {
            number,
            id: id.trim().to_string(),
            name,
            usb_id: None,
        });
    }
    out
}

/// A DRM connector as sysfs lists it (`/sys/class/drm/card0-HDMI-A-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrmConnector {
    /// `card0`
    pub card: String,
    /// `HDMI-A-1`
    pub name: String,
    /// The KMS object id kmssink's `connector-id` takes.
    pub id: Option<u32>,
    /// `connected`, `disconnected` or `unknown`.
    pub status: String,
    pub modes: Vec<String>,
}

pub fn drm_connectors(root: &Root) -> Vec<DrmConnector> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(root.join("/sys/class/drm")) else {
        return out;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        let Some((card, name)) = file.split_once('-') else {
            continue;
        };
        if !card.starts_with("card") {
            continue;
        }
        let dir = e.path();
        out.push(DrmConnector {
            card: card.to_string(),
            name: name.to_string(),
            id: root
                .read(dir.join("connector_id"))
                .and_then(|s| s.parse().ok()),
            status: root
                .read(dir.join("status"))
                .unwrap_or_else(|| "unknown".into()),
            modes: root
                .read(dir.join("modes"))
                .map(|m| m.lines().map(str::to_string).collect())
                .unwrap_or_default(),
        });
    }
    // Kernels before 6.2 have no `connector_id` in sysfs: ask the device.
    let cards: std::collections::BTreeSet<String> = out
        .iter()
        .filter(|c| c.id.is_none())
        .map(|c| c.card.clone())
        .collect();
    for card in cards {
        let dev = root.join(&format!("/dev/dri/{card}"));
        if !dev.exists() {
            continue;
        }
        match super::drm::connector_ids(&dev) {
            Ok(ids) => {
                for c in out.iter_mut().filter(|c| c.card == card && c.id.is_none()) {
                    c.id = ids.iter().find(|(n, _)| *n == c.name).map(|(_, id)| *id);
                }
            }
            Err(e) => {
                tracing::debug!(device = %dev.display(), error = %e, "no connector ids from the DRM device")
            }
        }
    }
    out.sort_by(|a, b| (&a.card, &a.name).cmp(&(&b.card, &b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// Lays out the sysfs of a laptop with a built-in camera and a USB
    /// Logitech camera, as recorded from such a machine.
    fn two_cameras() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let usb = "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2";
        write(r, &format!("{usb}/idVendor"), "046d\n");
        write(r, &format!("{usb}/idProduct"), "085e\n");
        let builtin = "sys/devices/pci0000:00/0000:00:14.0/usb1/1-5";
        write(r, &format!("{builtin}/idVendor"), "04f2\n");
        write(r, &format!("{builtin}/idProduct"), "b6dd\n");
        for (node, dev, name, index) in [
            (
                "video0",
                format!("{builtin}/1-5:1.0"),
                "Integrated Camera",
                "0",
            ),
            (
                "video1",
                format!("{builtin}/1-5:1.0"),
                "Integrated Camera",
                "1",
            ),
            ("video2", format!("{usb}/1-2:1.0"), "Logitech BRIO", "0"),
            ("video3", format!("{usb}/1-2:1.0"), "Logitech BRIO", "1"),
        ] {
            fs::create_dir_all(r.join(&dev)).unwrap();
            let class = r.join("sys/class/video4linux").join(node);
            write(r, &format!("sys/class/video4linux/{node}/name"), name);
            write(r, &format!("sys/class/video4linux/{node}/index"), index);
            symlink(r.join(&dev), class.join("device")).unwrap();
        }
        fs::create_dir_all(r.join("dev/v4l/by-id")).unwrap();
        write(r, "dev/video2", "");
        symlink(
            "../../video2",
            r.join("dev/v4l/by-id/usb-046d_Logitech_BRIO_ABC123-video-index0"),
        )
        .unwrap();
        t
    }

    #[test]
    fn v4l2_nodes_carry_usb_ids() {
        let t = two_cameras();
        let nodes = v4l2_nodes(&Root(t.path().into()));
        let primary: Vec<_> = nodes.iter().filter(|n| n.index == 0).collect();
        assert_eq!(primary.len(), 2);
        assert_eq!(primary[1].dev, PathBuf::from("/dev/video2"));
        assert_eq!(primary[1].usb_id, Some((0x046d, 0x085e)));
        assert_eq!(primary[0].name, "Integrated Camera");
    }

    #[test]
    fn by_id_links_resolve_to_the_node() {
        let t = two_cameras();
        let root = Root(t.path().into());
        assert_eq!(
            resolve_dev_path(
                &root,
                "/dev/v4l/by-id/usb-046d_Logitech_BRIO_ABC123-video-index0"
            ),
            Some(PathBuf::from("/dev/video2"))
        );
        assert_eq!(resolve_dev_path(&root, "/dev/v4l/by-id/missing"), None);
    }

    #[test]
    fn asound_cards_parse() {
        let text = " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n                      HDA Intel PCH at 0xf7f10000 irq 31\n 1 [Speakerphone   ]: USB-Audio - Jabra SPEAK 510 USB\n                      Jabra SPEAK 510 USB at usb-0000:00:14.0-3, full speed\n";
        let cards = parse_asound_cards(text);
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[1].id, "Speakerphone");
        assert_eq!(cards[1].name, "Jabra SPEAK 510 USB");
        assert_eq!(cards[1].number, 1);
    }

    #[test]
    fn garbage_asound_text_yields_nothing() {
        assert!(parse_asound_cards("--- no cards ---\n\n[x]: y").is_empty());
    }

    #[test]
    fn drm_connectors_read_ids_and_status() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "sys/class/drm/card0-HDMI-A-1/status", "connected\n");
        write(r, "sys/class/drm/card0-HDMI-A-1/connector_id", "77\n");
        write(
            r,
            "sys/class/drm/card0-HDMI-A-1/modes",
            "1920x1080\n1280x720\n",
        );
        write(r, "sys/class/drm/card0-DP-1/status", "disconnected\n");
        write(r, "sys/class/drm/card0/dev", "226:0\n");
        let c = drm_connectors(&Root(r.into()));
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].name, "HDMI-A-1");
        assert_eq!(c[1].id, Some(77));
        assert_eq!(c[1].modes, ["1920x1080", "1280x720"]);
        assert_eq!(c[0].status, "disconnected");
    }
}
