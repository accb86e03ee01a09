//! Certificate fingerprints as people read and write them: SHA-256 in
//! upper-case hex pairs joined by colons (`7B:B1:29:…`), the way browsers
//! and the panel show them. Settings may give one without colons or in
//! lower case; [`parse`] makes it the shown form, so two spellings of one
//! fingerprint compare equal.

/// The shown form of a SHA-256 digest.
pub fn format(digest: &[u8]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A SHA-256 fingerprint as an operator writes it (64 hex digits, with or
/// without colons between pairs, any case), in the shown form; `None`
/// when it is not 32 bytes of hex.
pub fn parse(text: &str) -> Option<String> {
    let text = text.trim();
    let pairs: Vec<&str> = if text.contains(':') {
        text.split(':').collect()
    } else {
        (0..text.len() / 2)
            .map(|i| text.get(2 * i..2 * i + 2).unwrap_or(""))
            .collect()
    };
    let whole = pairs.len() == 32
        && text.len() == if text.contains(':') { 95 } else { 64 }
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    whole.then(|| pairs.join(":").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_of_one_fingerprint_are_one() {
        let shown = format(&[0xab; 32]);
        assert_eq!(shown.len(), 95);
        assert_eq!(parse(&shown).as_deref(), Some(shown.as_str()));
        assert_eq!(
            parse(&shown.to_lowercase()).as_deref(),
            Some(shown.as_str())
        );
        assert_eq!(
            parse(&shown.replace(':', "")).as_deref(),
            Some(shown.as_str())
        );
        assert_eq!(
            parse(&format!("  {shown}\n")).as_deref(),
            Some(shown.as_str())
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "AB:CD",
            &"AB:".repeat(32),
            &"ABC".repeat(21),
            &format(&[0xab; 31]),
            &format(&[0xab; 33]),
            &format(&[0xab; 32]).replace('A', "G"),
            &format(&[0xab; 32]).replacen(':', "", 1),
            "é".repeat(64).as_str(),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_digest_reads_back(bytes in proptest::collection::vec(any::<u8>(), 32)) {
            let shown = format(&bytes);
            prop_assert_eq!(parse(&shown), Some(shown.clone()));
            prop_assert_eq!(parse(&shown.replace(':', "").to_lowercase()), Some(shown));
        }

        #[test]
        fn no_text_panics(text in ".{0,120}") {
            let _ = parse(&text);
        }
    }
}
