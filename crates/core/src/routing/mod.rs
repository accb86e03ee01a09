//! Media routing decisions for the conference server's forwarding unit,
//! sans-IO: the pipelines and peers that carry them out are the
//! appliance's (`dais::sfu`).
//!
//! - [`rtp`]: RTP packets, header extensions, audio levels, VP8 keyframes
//!   (fuzzed);
//! - [`loss`]: packets missing from a participant's track, as the server
//!   received it;
//! - [`slot`]: one forwarded track whose source changes, with steady
//!   numbering and keyframe gating;
//! - [`route`]: who receives whom, by mode, rights and voice activity.

pub mod loss;
pub mod route;
pub mod rtp;
pub mod slot;
