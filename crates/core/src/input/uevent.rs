//! Device events from the kernel and udev, as they arrive on a
//! `NETLINK_KOBJECT_UEVENT` socket: the kernel's own messages
//! (`add@/devices/...` then `KEY=value` fields) and udev's (a `libudev`
//! header, then the fields, sent once udev has made the device node and
//! set its permissions). Sans-IO: the socket is in `evdev.rs`.

/// What one message says, as far as input hot-plug cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Uevent {
    pub action: String,
    pub subsystem: String,
    /// The node under `/dev` (`input/event3`), when there is one.
    pub devname: Option<String>,
    /// Sent by udev (after its rules ran), not by the kernel.
    pub from_udev: bool,
}

impl Uevent {
    /// An event device came or went: time to look at `/dev/input` again.
    pub fn is_input_device(&self) -> bool {
        self.subsystem == "input"
            && matches!(self.action.as_str(), "add" | "remove")
            && self
                .devname
                .as_deref()
                .is_some_and(|d| d.starts_with("input/event"))
    }
}

/// Why a message is not a uevent, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("uevent at byte {offset}: {what}")]
pub struct UeventError {
    pub offset: usize,
    pub what: &'static str,
}

const UDEV_PREFIX: &[u8] = b"libudev\0";
const UDEV_MAGIC: u32 = 0xfeed_cafe;
const UDEV_HEADER: usize = 40;

/// Parses one datagram.
pub fn parse(msg: &[u8]) -> Result<Uevent, UeventError> {
    let bad = |offset, what| Err(UeventError { offset, what });
    let (fields, from_udev, base) = if msg.starts_with(UDEV_PREFIX) {
        if msg.len() < UDEV_HEADER {
            return bad(msg.len(), "a udev header of 40 bytes");
        }
        let word = |at: usize| [msg[at], msg[at + 1], msg[at + 2], msg[at + 3]];
        if u32::from_be_bytes(word(8)) != UDEV_MAGIC {
            return bad(8, "the udev magic number 0xfeedcafe");
        }
        let off = u32::from_ne_bytes(word(16)) as usize;
        let len = u32::from_ne_bytes(word(20)) as usize;
        let Some(end) = off
            .checked_add(len)
            .filter(|&e| off >= UDEV_HEADER && e <= msg.len())
        else {
            return bad(16, "properties inside the message");
        };
        (&msg[off..end], true, off)
    } else {
        // `ACTION@DEVPATH`, then the fields.
        let Some(nul) = msg.iter().position(|&b| b == 0) else {
            return bad(msg.len(), "a NUL after ACTION@DEVPATH");
        };
        if !msg[..nul].contains(&b'@') {
            return bad(0, "ACTION@DEVPATH or a libudev header");
        }
        (&msg[nul + 1..], false, nul + 1)
    };
    let mut ev = Uevent {
        from_udev,
        ..Default::default()
    };
    let mut at = base;
    for field in fields.split(|&b| b == 0) {
        let start = at;
        at += field.len() + 1;
        if field.is_empty() {
            continue;
        }
        let Some(eq) = field.iter().position(|&b| b == b'=') else {
            return bad(start, "KEY=value");
        };
        let value = String::from_utf8_lossy(&field[eq + 1..]).into_owned();
        match &field[..eq] {
            b"ACTION" => ev.action = value,
            b"SUBSYSTEM" => ev.subsystem = value,
            b"DEVNAME" => ev.devname = Some(value.trim_start_matches("/dev/").to_string()),
            _ => {}
        }
    }
    if ev.action.is_empty() {
        return bad(base, "an ACTION field");
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the kernel sent when a USB remote was plugged in (recorded with
    /// `udevadm monitor --kernel --property`, fields as they came).
    fn kernel_add() -> Vec<u8> {
        b"add@/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/0003:1D57:AD02.0004/input/input17/event5\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/0003:1D57:AD02.0004/input/input17/event5\0SUBSYSTEM=input\0MAJOR=13\0MINOR=69\0DEVNAME=input/event5\0SEQNUM=4711\0".to_vec()
    }

    fn udev(fields: &[u8]) -> Vec<u8> {
        let mut m = b"libudev\0".to_vec();
        m.extend(0xfeed_cafe_u32.to_be_bytes());
        m.extend(40u32.to_ne_bytes());
        m.extend(40u32.to_ne_bytes());
        m.extend((fields.len() as u32).to_ne_bytes());
        m.extend([0u8; 16]);
        m.extend(fields);
        m
    }

    #[test]
    fn the_kernels_message_for_a_new_event_device() {
        let ev = parse(&kernel_add()).unwrap();
        assert_eq!(ev.action, "add");
        assert_eq!(ev.subsystem, "input");
        assert_eq!(ev.devname.as_deref(), Some("input/event5"));
        assert!(!ev.from_udev);
        assert!(ev.is_input_device());
    }

    #[test]
    fn udevs_message_once_the_node_is_ready() {
        let ev = parse(&udev(
            b"ACTION=remove\0DEVNAME=/dev/input/event5\0SUBSYSTEM=input\0ID_INPUT_KEY=1\0",
        ))
        .unwrap();
        assert!(ev.from_udev);
        assert_eq!(ev.devname.as_deref(), Some("input/event5"));
        assert!(ev.is_input_device());
    }

    #[test]
    fn other_devices_are_not_input_hot_plug() {
        // The input17 parent (no node) and a sound card.
        let parent = b"add@/devices/virtual/input/input17\0ACTION=add\0SUBSYSTEM=input\0";
        assert!(!parse(parent).unwrap().is_input_device());
        let snd = b"add@/devices/virtual/sound/card1\0ACTION=add\0SUBSYSTEM=sound\0DEVNAME=snd/controlC1\0";
        assert!(!parse(snd).unwrap().is_input_device());
        let change = b"change@/x\0ACTION=change\0SUBSYSTEM=input\0DEVNAME=input/event5\0";
        assert!(!parse(change).unwrap().is_input_device());
    }

    #[test]
    fn broken_messages_name_the_byte() {
        assert_eq!(
            parse(b"hello").unwrap_err().to_string(),
            "uevent at byte 5: a NUL after ACTION@DEVPATH"
        );
        assert_eq!(parse(b"libudev\0abc").unwrap_err().offset, 11);
        let mut m = udev(b"ACTION=add\0");
        m[8] = 0;
        assert_eq!(parse(&m).unwrap_err().offset, 8);
        let mut m = udev(b"ACTION=add\0");
        m[20..24].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(parse(&m).unwrap_err().what, "properties inside the message");
        assert_eq!(
            parse(b"add@/x\0SUBSYSTEM\0").unwrap_err(),
            UeventError {
                offset: 7,
                what: "KEY=value"
            }
        );
        assert_eq!(
            parse(b"add@/x\0SUBSYSTEM=input\0").unwrap_err().what,
            "an ACTION field"
        );
    }

    proptest! {
        #[test]
        fn any_datagram_parses_or_is_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
            let _ = parse(&udev(&bytes));
            let mut k = b"add@/x\0".to_vec();
            k.extend(&bytes);
            let _ = parse(&k);
        }

        #[test]
        fn a_header_with_any_offsets_is_checked(off in any::<u32>(), len in any::<u32>()) {
            let mut m = udev(b"ACTION=add\0");
            m[16..20].copy_from_slice(&off.to_ne_bytes());
            m[20..24].copy_from_slice(&len.to_ne_bytes());
            let _ = parse(&m);
        }
    }
}
