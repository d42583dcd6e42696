use std::collections::BTreeMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parsed(text: &str) -> Shard {
    Shard::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn refused(text: &str) -> String {
    let err = Shard::parse(text).expect_err(text).to_string();
    assert!(
        err.starts_with("--watch-label-selector: ") && !err.contains('\n'),
        "one line naming the flag: {err:?}"
    );
    assert!(err.len() < 600, "short: {} bytes: {err}", err.len());
    err
}

/// Each text is refused with a message that says `what`, and the forms.
fn refused_saying(cases: &[(&str, &str)]) {
    for (text, what) in cases {
        let err = refused(text);
        assert!(err.contains(what), "{text:?}: {err}");
        assert!(err.contains("key in (a,b)"), "names the forms: {err}");
    }
}

#[test]
fn every_documented_form_parses_and_is_sent_as_kubernetes_reads_it() {
    for (text, sent) in [
        ("", ""),
        ("   ", ""),
        (
            "!sharding.s3connection.dev/key",
            "!sharding.s3connection.dev/key",
        ),
        (
            "sharding.s3connection.dev/key=shard1",
            "sharding.s3connection.dev/key=shard1",
        ),
        ("tier==gold", "tier=gold"),
        ("tier!=gold", "tier!=gold"),
        ("tier=", "tier="),
        ("tier", "tier"),
        ("tier in (gold, silver)", "tier in (gold,silver)"),
        ("tier notin (b,a)", "tier notin (a,b)"),
        (" a = 1 , !b ,a=1", "a=1,!b"),
        (
            "example.com/Team_1.x=A-b_c.9",
            "example.com/Team_1.x=A-b_c.9",
        ),
    ] {
        assert_eq!(parsed(text).to_string(), sent, "{text:?}");
    }
    assert!(parsed("").selects_all() && parsed("  ").selects_all());
    assert!(!parsed("a").selects_all());
}

#[test]
fn the_flux_recipe_splits_connections_between_main_and_shards() {
    let main = parsed("!sharding.s3connection.dev/key");
    let shard1 = parsed("sharding.s3connection.dev/key=shard1");
    let shard2 = parsed("sharding.s3connection.dev/key in (shard2)");
    let unlabelled = labels(&[("app", "x")]);
    let in1 = labels(&[(SHARD_LABEL, "shard1"), ("app", "x")]);
    let in2 = labels(&[(SHARD_LABEL, "shard2")]);
    for (l, owner) in [
        (None, "main"),
        (Some(&unlabelled), "main"),
        (Some(&in1), "shard1"),
        (Some(&in2), "shard2"),
    ] {
        let owners: Vec<&str> = [("main", &main), ("shard1", &shard1), ("shard2", &shard2)]
            .into_iter()
            .filter(|(_, s)| s.holds(l))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(owners, [owner], "{l:?}");
    }
    assert!(Shard::all().holds(None) && Shard::all().holds(Some(&in1)));
    assert!(parsed("k notin (a)").holds(None));
    assert!(!parsed("k in (a)").holds(None));
    assert!(parsed("k!=a").holds(Some(&labels(&[("k", "b")]))));
    assert!(parsed("k=").holds(Some(&labels(&[("k", "")]))));
}

#[test]
fn the_watch_is_restricted_only_with_a_selector() {
    let base = || watcher::Config::default().any_semantic();
    assert_eq!(Shard::all().watch(base()).label_selector, None);
    assert_eq!(
        parsed("!sharding.s3connection.dev/key")
            .watch(base())
            .label_selector
            .as_deref(),
        Some("!sharding.s3connection.dev/key")
    );
}

#[test]
fn one_shard_written_two_ways_has_one_id() {
    assert_eq!(Shard::all().id(), None);
    let id = parsed("a=b, c").id().unwrap();
    assert_eq!(id.len(), 8);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(parsed("c,a==b,c").id().as_deref(), Some(id.as_str()));
    assert_ne!(parsed("a=c,c").id().as_deref(), Some(id.as_str()));
}

#[test]
fn a_long_selector_is_refused_by_its_size_without_echoing_it() {
    let huge = format!("k in ({})", vec!["v"; 5000].join(","));
    assert!(huge.len() > 10_000);
    let err = refused(&huge);
    assert!(
        err.contains(&format!("{} bytes; at most {MAX_LEN}", huge.len())),
        "{err}"
    );
    assert!(!err.contains("v,v"), "{err}");
    // At the bound, it is judged on its merits.
    let at_bound = format!("k={}", "v".repeat(MAX_LEN - 2));
    assert_eq!(at_bound.len(), MAX_LEN);
    assert!(refused(&at_bound).contains("is not a label value"));
}

#[test]
fn control_and_non_ascii_characters_are_named_with_their_place() {
    refused_saying(&[
        ("a=b\nc=d", "a control character (U+000A) at byte 3"),
        ("a=b\r", "a control character (U+000D) at byte 3"),
        ("\ta", "a control character (U+0009) at byte 0"),
        ("a=\u{1b}[31m", "a control character (U+001B) at byte 2"),
        ("a=b\u{0}", "a control character (U+0000) at byte 3"),
        ("a=b\u{85}", "a control character (U+0085) at byte 3"),
        ("a=é", "'é' at byte 2: labels are ASCII"),
    ]);
}

#[test]
fn bad_syntax_says_what_was_expected_where() {
    refused_saying(&[
        ("a in ()", "an empty set of values at byte 6"),
        ("a in (b", "expected ',' or ')', found the end"),
        ("a in b", "expected '(', found \"b\" at byte 5"),
        ("a in (b c)", "expected ',' or ')', found \"c\" at byte 8"),
        ("a=b=c", "expected ',' or the end, found '=' at byte 3"),
        (
            "a b",
            "expected '=', '!=', 'in', 'notin', ',' or the end, found \"b\" at byte 2",
        ),
        (",a", "expected a label key, found ',' at byte 0"),
        ("a,", "expected a label key, found the end"),
        ("a,,b", "expected a label key, found ',' at byte 2"),
        ("!", "expected a label key, found the end"),
        ("!a=b", "expected ',' or the end, found '=' at byte 2"),
        ("=a", "expected a label key, found '=' at byte 0"),
        ("a>1", "unexpected '>' at byte 1"),
        ("a='b'", "unexpected '\\'' at byte 2"),
        ("a=(b)", "expected a label value, found '(' at byte 2"),
    ]);
}

#[test]
fn keys_and_values_follow_the_label_rules() {
    let long = "n".repeat(64);
    let (key, value) = (format!("{long}=x"), format!("k={long}"));
    refused_saying(&[
        ("-a", "the key \"-a\" at byte 0 is not a label key"),
        ("a.", "the key \"a.\" at byte 0 is not a label key"),
        (&key, "is not a label key"),
        ("Example.com/a", "has a prefix that is not a DNS subdomain"),
        ("/a", "has a prefix that is not a DNS subdomain"),
        ("a/", "the key \"a/\" at byte 0 is not a label key"),
        ("a/b/c", "is not a label key"),
        ("k=-v", "the value \"-v\" at byte 2 is not a label value"),
        (&value, "is not a label value"),
        (
            "k in (a,b_)",
            "the value \"b_\" at byte 8 is not a label value",
        ),
    ]);
    // A long token is quoted short.
    let err = refused(&format!("k={}", "-".repeat(200)));
    assert!(err.contains("...") && err.len() < 600, "{err}");
    // The longest name and value, and a long DNS prefix, are fine.
    let n63 = "n".repeat(63);
    let prefix = vec!["p".repeat(60); 4].join(".");
    parsed(&format!("{prefix}/{n63}={n63}"));
}
