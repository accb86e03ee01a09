//! Fuzzes the trueconf: link parser: no input may panic, and every link
//! that parses must survive format → parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

use dais_core::uri;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = uri::parse(s) {
        let canonical = uri::format(&parsed.link);
        match uri::parse(&canonical) {
            Ok(again) => assert_eq!(again.link, parsed.link, "{s:?} -> {canonical:?}"),
            Err(e) => panic!("{s:?} formats to {canonical:?}, which does not parse: {e}"),
        }
    }
});
