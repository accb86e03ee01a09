//! KMS connector ids straight from a DRM device, for kernels whose sysfs
//! has no `connector_id` (before Linux 6.2; Debian 12 runs 6.1): the
//! `MODE_GETRESOURCES` and `MODE_GETCONNECTOR` ioctls list each connector's
//! object id with its type and index, which name it as sysfs does
//! (`HDMI-A-1`, `Virtual-1`). Needs only read access (the `video` group),
//! not DRM master, so it works while kmssink holds the device.

use std::os::fd::AsRawFd;
use std::path::Path;

/// The kernel's names for connector types, by `DRM_MODE_CONNECTOR_*`
/// value, as sysfs and kmssink's logs spell them.
const TYPES: [&str; 21] = [
    "Unknown",
    "VGA",
    "DVI-I",
    "DVI-D",
    "DVI-A",
    "Composite",
    "SVIDEO",
    "LVDS",
    "Component",
    "DIN",
    "DP",
    "HDMI-A",
    "HDMI-B",
    "TV",
    "eDP",
    "Virtual",
    "DSI",
    "DPI",
    "Writeback",
    "SPI",
    "USB",
];

/// A connector's name from its type and index (`11, 1` → `HDMI-A-1`).
pub fn connector_name(kind: u32, index: u32) -> String {
    let t = TYPES.get(kind as usize).copied().unwrap_or("Unknown");
    format!("{t}-{index}")
}

/// `struct drm_mode_card_res` (include/uapi/drm/drm_mode.h).
#[repr(C)]
#[derive(Default)]
struct CardRes {
    fb_id_ptr: u64,
    crtc_id_ptr: u64,
    connector_id_ptr: u64,
    encoder_id_ptr: u64,
    count_fbs: u32,
    count_crtcs: u32,
    count_connectors: u32,
    count_encoders: u32,
    min_width: u32,
    max_width: u32,
    min_height: u32,
    max_height: u32,
}

/// `struct drm_mode_get_connector`.
#[repr(C)]
#[derive(Default)]
struct GetConnector {
    encoders_ptr: u64,
    modes_ptr: u64,
    props_ptr: u64,
    prop_values_ptr: u64,
    count_modes: u32,
    count_props: u32,
    count_encoders: u32,
    encoder_id: u32,
    connector_id: u32,
    connector_type: u32,
    connector_type_id: u32,
    connection: u32,
    mm_width: u32,
    mm_height: u32,
    subpixel: u32,
    pad: u32,
}

/// `_IOWR('d', nr, size)`.
const fn iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((b'd' as u64) << 8) | nr
}
const GETRESOURCES: u64 = iowr(0xA0, std::mem::size_of::<CardRes>());
const GETCONNECTOR: u64 = iowr(0xA7, std::mem::size_of::<GetConnector>());

fn ioctl<T>(fd: &std::fs::File, req: u64, arg: &mut T) -> std::io::Result<()> {
    loop {
        // SAFETY: `arg` is the `#[repr(C)]` struct this request takes and
        // outlives the call; pointers inside it are null or point at
        // buffers sized by the counts beside them.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, arg as *mut T) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EAGAIN)) {
            return Err(e);
        }
    }
}

/// Every connector of the DRM device at `dev`: its name and object id.
pub fn connector_ids(dev: &Path) -> std::io::Result<Vec<(String, u32)>> {
    let f = std::fs::File::open(dev)?;
    let mut res = CardRes::default();
    ioctl(&f, GETRESOURCES, &mut res)?;
    // Connectors can come and go between the two calls (MST hubs): ask
    // again with room for the count the kernel gave.
    let mut ids = vec![0u32; res.count_connectors as usize];
    let mut res = CardRes {
        connector_id_ptr: ids.as_mut_ptr() as u64,
        count_connectors: ids.len() as u32,
        ..Default::default()
    };
    ioctl(&f, GETRESOURCES, &mut res)?;
    ids.truncate(res.count_connectors as usize);
    let mut out = Vec::new();
    for id in ids {
        let mut c = GetConnector {
            connector_id: id,
            ..Default::default()
        };
        ioctl(&f, GETCONNECTOR, &mut c)?;
        out.push((connector_name(c.connector_type, c.connector_type_id), id));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_names_are_the_kernels() {
        assert_eq!(connector_name(11, 1), "HDMI-A-1");
        assert_eq!(connector_name(10, 2), "DP-2");
        assert_eq!(connector_name(15, 1), "Virtual-1");
        assert_eq!(connector_name(14, 1), "eDP-1");
        assert_eq!(connector_name(99, 3), "Unknown-3");
    }

    #[test]
    fn the_ioctl_numbers_match_the_kernel_headers() {
        // DRM_IOCTL_MODE_GETRESOURCES and DRM_IOCTL_MODE_GETCONNECTOR as
        // the kernel's headers expand them on x86_64.
        assert_eq!(GETRESOURCES, 0xC040_64A0);
        assert_eq!(GETCONNECTOR, 0xC050_64A7);
    }

    #[test]
    fn a_missing_device_is_an_error_not_a_panic() {
        assert!(connector_ids(Path::new("/nonexistent/dri/card0")).is_err());
        // Not a DRM device: the ioctl is refused.
        assert!(connector_ids(Path::new("/dev/null")).is_err());
    }
}
