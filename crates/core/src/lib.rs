//! The sans-IO core of dais: rules and grammars that take events (and
//! `now`, as a value) in and give decisions out. Nothing here opens a
//! socket, a file or a device, starts a thread or reads the clock except
//! through [`clock::Clock`]; the crate depends on no runtime, media,
//! storage, HTTP or UI library, so the compiler keeps it that way. The
//! appliance (`dais`) re-exports these modules under their old paths.
//!
//! - [`command`]: the one `Command` language every input speaks;
//! - [`conference`]: CIDs, modes, roles and rights, the roster, podium,
//!   schedules, templates;
//! - [`call`]: the room's call flow (ringing, joining, auto-record);
//! - [`uri`]: the `trueconf:` link grammar, and [`link`]: a link's commands;
//! - [`routing`]: RTP parsing and rewriting, forwarding slots, who
//!   receives whom, loss accounting;
//! - [`layout`] and [`catchup`]: display geometry and the late-track delay;
//! - [`input`]: keymaps, key repeat and long press, uevents;
//! - [`origin`]: which web pages may use dais from a browser;
//! - [`fingerprint`]: certificate fingerprints as people read and write them;
//! - [`throttle`]: back-off for guessing (PINs, secrets);
//! - [`slots`]: connection slots per source address and per listener;
//! - [`contacts`], [`tone`], [`clock`].

pub mod call;
pub mod catchup;
pub mod clock;
pub mod command;
pub mod conference;
pub mod contacts;
pub mod fingerprint;
pub mod input;
pub mod layout;
pub mod link;
pub mod origin;
pub mod routing;
pub mod slots;
pub mod throttle;
pub mod tone;
pub mod uri;
