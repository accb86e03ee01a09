use proptest::prelude::*;

use super::*;

/// Every example link from seeds 002 and 003, one per line.
const SEED_LINKS: &str = include_str!("../../../../tests/data/trueconf_links.txt");

fn p(s: &str) -> Link {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).link
}

fn call(peer: &str, server: Option<&str>) -> Option<Target> {
    Some(Target::Call {
        peer: peer.into(),
        server: server.map(Into::into),
    })
}

#[test]
fn every_seed_link_parses_and_round_trips() {
    for line in SEED_LINKS.lines().filter(|l| !l.trim().is_empty()) {
        let parsed = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let again = parse(&format(&parsed.link)).unwrap();
        assert_eq!(again.link, parsed.link, "{line}");
    }
}

#[test]
fn launch_and_authorization() {
    let l = p("trueconf:");
    assert_eq!(l.target, None);
    assert!(l.params.is_empty());
    let l = p("trueconf:login=user&password=pswd&encrypt=1&force=1");
    assert_eq!(l.target, None);
    assert_eq!(l.param(Key::Login), Some("user"));
    assert_eq!(l.param(Key::Password), Some("pswd"));
    assert!(l.flag(Key::Encrypt) && l.flag(Key::Force));
    let l = p("trueconf:h=192.168.12.123&login=user&password=pswd&encrypt=1&force=1");
    assert_eq!(l.servers(), ["192.168.12.123"]);
}

#[test]
fn calls_rtsp_and_conferences() {
    assert_eq!(p("trueconf:smith").target, call("smith", None));
    assert_eq!(
        p("trueconf:smith@conf.company.com").target,
        call("smith", Some("conf.company.com"))
    );
    assert_eq!(
        p("trueconf:#rtsp:%2f%2fdomainn.company.com:554").target,
        Some(Target::Rtsp {
            url: "rtsp://domainn.company.com:554".into()
        })
    );
    assert_eq!(
        p("trueconf:\\c\\4154248070").target,
        Some(Target::Conference {
            cid: "4154248070".into(),
            server: None,
            vcs: Vcs::None
        })
    );
    assert_eq!(
        p("trueconf:\\c\\4154248070@video.example.com%vcs").target,
        Some(Target::Conference {
            cid: "4154248070".into(),
            server: Some("video.example.com".into()),
            vcs: Vcs::Bare
        })
    );
    let l = p("trueconf:smith&conftype=hotquery");
    assert_eq!(l.param(Key::Conftype), Some("hotquery"));
    assert!(p("trueconf:smith&autoclose=1").flag(Key::Autoclose));
    // Any call string, e.g. a SIP address, after '#'.
    assert_eq!(
        p("trueconf:#sip:alice%40pbx.example.com").target,
        call("#sip:alice@pbx.example.com", None)
    );
}

#[test]
fn seed_002_deeplinks_carry_a_guest_login() {
    let lines: Vec<&str> = SEED_LINKS.lines().collect();
    let default = lines
        .iter()
        .find(|l| l.starts_with("trueconf:\\c\\5016799639"))
        .unwrap();
    let android = lines.iter().find(|l| l.starts_with("intent:")).unwrap();
    let d = p(default);
    let a = p(android);
    assert_eq!(d.target, a.target);
    assert_eq!(d.params, a.params);
    assert_eq!(
        d.target,
        Some(Target::Conference {
            cid: "5016799639".into(),
            server: Some("video.company.com".into()),
            vcs: Vcs::Encoded
        })
    );
    assert_eq!(d.param(Key::Login), Some("*guest*Иван Степан"));
    assert_eq!(d.servers(), ["172.18.246.126", "172.17.0.1"]);
    assert!(d.flag(Key::Templogin) && d.flag(Key::Autoclose) && !d.flag(Key::Encrypt));
    assert!(d.param(Key::Password).unwrap().starts_with("$291bcfe8"));
    assert_eq!(
        a.scheme,
        Scheme::Intent {
            scheme: "trueconf".into(),
            package: "com.trueconf.videochat".into()
        }
    );
}

#[test]
fn visicall_is_accepted_with_a_warning() {
    let parsed = parse("visicall:smith").unwrap();
    assert_eq!(parsed.link.scheme, Scheme::Visicall);
    assert_eq!(parsed.warnings.len(), 1);
    assert!(parsed.warnings[0].contains("obsolete"));
    assert!(
        parse("TrueConf:smith").unwrap().warnings.is_empty(),
        "the scheme is case-insensitive"
    );
}

#[test]
fn errors_name_the_byte_offset_and_what_was_expected() {
    let e = |s: &str| parse(s).unwrap_err();
    assert_eq!(e("http://x").offset, 0);
    assert_eq!(e("trueconf:smith&volume=3"), UriError {
        offset: 15,
        expected: "a parameter name (h, login, password, encrypt, force, templogin, conftype, autoclose), not \"volume\"".into()
    });
    assert_eq!(e("trueconf:smith&autoclose=2").offset, 25);
    assert!(e("trueconf:smith&autoclose=2").expected.contains("0 or 1"));
    assert_eq!(e("trueconf:sm%zzith").offset, 11);
    assert_eq!(e("trueconf:\\c\\bad cid").offset, 12);
    assert_eq!(e("trueconf:\\c\\").offset, 12);
    assert_eq!(e("trueconf:smith&&force=1").offset, 15);
    assert_eq!(e("trueconf:smith&force").offset, 20);
    assert!(
        e("trueconf:\\c\\1&conftype=hotquery")
            .expected
            .contains("conftype")
    );
    assert!(e("trueconf:password=x").expected.contains("login"));
    assert!(
        e("trueconf:smith&force=1&force=0")
            .expected
            .contains("only once")
    );
    assert!(e("trueconf:#rtsp:host").expected.contains("rtsp://"));
    assert!(e("intent:\\c\\1").expected.contains("#Intent"));
    assert!(
        e("intent:\\c\\1#Intent;scheme=http;end")
            .expected
            .contains("scheme=trueconf")
    );
    assert!(e("trueconf:x%C3%28").expected.contains("UTF-8"));
    assert!(
        e(&format!("trueconf:{}", "a".repeat(MAX_LEN)))
            .expected
            .contains("at most")
    );
}

#[test]
fn fuzzer_findings_stay_fixed() {
    // An escaped '#' is a plain peer, and must be written back escaped.
    for s in [
        "trueconf:%23",
        "trueconf:%23rtsp:%2f%2fx",
        "trueconf:%23sip:a",
        // A call string inside an Android intent that spells the trailer.
        "intent:%23Intent;scheme=force%3d1%26login%3dgu67\u{1}71#Intent;scheme=trueconf;=,.05%te;end",
        "intent:#x#Intent;scheme=trueconf;package=p;end",
    ] {
        let l = p(s);
        assert_eq!(p(&format(&l)), l, "{s}");
    }
    // Every value that parses formats back under the length limit.
    let worst = format!("trueconf:{}", "%00".repeat(MAX_PART));
    let l = p(&worst);
    assert!(format(&l).len() < MAX_LEN);
    assert!(
        parse(&format!("trueconf:{}", "a".repeat(MAX_PART + 1)))
            .unwrap_err()
            .expected
            .contains("at most 512")
    );
}

fn text() -> impl Strategy<Value = String> {
    // Letters, digits, delimiters, escapes and non-ASCII: whatever a value
    // may hold must survive format then parse.
    prop::collection::vec(
        prop_oneof![
            Just('a'),
            Just('Z'),
            Just('7'),
            Just('@'),
            Just('&'),
            Just('='),
            Just('%'),
            Just('#'),
            Just('/'),
            Just('\\'),
            Just(' '),
            Just('*'),
            Just('$'),
            Just(','),
            Just(':'),
            Just('И'),
            Just('€'),
            Just('+'),
            Just('?'),
        ],
        1..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn host() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,2}(:[0-9]{2,5})?"
}

fn target() -> impl Strategy<Value = Option<Target>> {
    prop_oneof![
        Just(None),
        (
            text().prop_filter("a peer spelled like a conference prefix is one", |t| {
                !t.starts_with('\\')
                    && !t.starts_with('/')
                    && !t.to_ascii_lowercase().starts_with("%5cc%5c")
            }),
            prop::option::of(host())
        )
            .prop_map(|(peer, server)| Some(Target::Call { peer, server })),
        (
            "[A-Za-z0-9_-]{1,20}",
            prop::option::of(host()),
            prop::sample::select(vec![Vcs::None, Vcs::Bare, Vcs::Encoded])
        )
            .prop_map(|(cid, server, vcs)| Some(Target::Conference { cid, server, vcs })),
        host().prop_map(|h| Some(Target::Rtsp {
            url: format!("rtsp://{h}/live")
        })),
    ]
}

fn value_for(k: Key) -> BoxedStrategy<String> {
    match k {
        Key::Encrypt | Key::Force | Key::Templogin | Key::Autoclose => {
            prop::sample::select(vec!["0".to_string(), "1".to_string()]).boxed()
        }
        Key::Conftype => Just("hotquery".to_string()).boxed(),
        Key::H => prop::collection::vec(host(), 1..3)
            .prop_map(|v| v.join(","))
            .boxed(),
        Key::Login | Key::Password => text().boxed(),
    }
}

fn link() -> impl Strategy<Value = Link> {
    let scheme = prop_oneof![
        Just(Scheme::Trueconf),
        Just(Scheme::Visicall),
        Just(Scheme::Intent {
            scheme: "trueconf".into(),
            package: "com.trueconf.videochat".into()
        }),
    ];
    (
        scheme,
        target(),
        prop::sample::subsequence(Key::ALL.to_vec(), 0..=8),
    )
        .prop_flat_map(|(scheme, target, keys)| {
            let values: Vec<BoxedStrategy<String>> = keys.iter().map(|k| value_for(*k)).collect();
            (Just(scheme), Just(target), Just(keys), values)
        })
        .prop_map(|(scheme, target, keys, values)| {
            let mut params: Vec<(Key, String)> = keys.into_iter().zip(values).collect();
            // The grammar's own rules: conftype only after a call target,
            // password and templogin only with a login.
            if !matches!(target, Some(Target::Call { .. })) {
                params.retain(|(k, _)| *k != Key::Conftype);
            }
            if !params.iter().any(|(k, _)| *k == Key::Login) {
                params.retain(|(k, _)| *k != Key::Password && *k != Key::Templogin);
            }
            Link {
                scheme,
                target,
                params,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn format_then_parse_is_the_identity(l in link()) {
        let s = format(&l);
        let back = parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(back.link, l, "{}", s);
    }

    #[test]
    fn parse_never_panics(s in ".{0,300}") {
        let _ = parse(&s);
        let _ = parse(&format!("trueconf:{s}"));
        let _ = parse(&format!("intent:{s}#Intent;scheme=trueconf;end"));
    }

    #[test]
    fn errors_point_inside_the_input(s in "trueconf:[a-z&=%#@\\\\c0-9]{0,40}") {
        if let Err(e) = parse(&s) {
            prop_assert!(e.offset <= s.len(), "offset {} past the end of {:?}", e.offset, s);
        }
    }
}
