use super::*;

#[test]
fn requested_at_tokens_are_short_and_printable() {
    use requested_at::{MAX_LEN, holds, kept};
    for ok in [
        "",
        "now",
        "2026-12-06T20:00:00Z",
        "1733515200",
        &"x".repeat(MAX_LEN),
    ] {
        assert!(holds(ok), "{ok:?}");
        assert_eq!(kept(ok), ok);
    }
    let long = "x".repeat(MAX_LEN + 1);
    let tail = format!("{}é", "x".repeat(MAX_LEN - 1));
    for bad in [
        long.as_str(),
        "a\nINFO forged line",
        "tab\there",
        "caf\u{e9}",
        "\u{202e}",
        &tail,
    ] {
        assert!(!holds(bad), "{bad:?}");
        assert!(!holds(kept(bad)), "{bad:?}");
        assert!(kept(bad).len() <= MAX_LEN);
    }
}

#[test]
fn list_wording() {
    assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
    assert_eq!(or_list(&["a"]), "a");
    assert_eq!(cel_list(&["a", "b"]), "['a', 'b']");
}

#[test]
fn every_pattern_compiles() {
    for f in [
        &REGION,
        &ENDPOINT,
        &STS_ENDPOINT,
        &INTERVAL,
        &CA_SECRET_NAME,
        &SECRET_NAME,
        &ACCESS_KEY_ID_KEY,
        &SECRET_ACCESS_KEY_KEY,
        &SESSION_TOKEN_KEY,
        &ROLE_ARN,
        &SERVICE_ACCOUNT_NAME,
        &SESSION_NAME,
        &EXPECTED_BUCKET_OWNER,
        &BUCKET_FIELD,
    ] {
        f.holds("x");
    }
    LazyLock::force(&BUCKET_CHARS);
    LazyLock::force(&IPV4);
}

#[test]
fn the_session_name_limits_are_the_ones_its_pattern_and_text_name() {
    let (min, max) = (SESSION_NAME_MIN, SESSION_NAME_MAX);
    assert_eq!(SESSION_NAME.len, (Some(min), max));
    assert!(SESSION_NAME.pattern.contains(&format!("{{{min},{max}}}")));
    assert!(SESSION_NAME.what.starts_with(&format!("{min}-{max} ")));
}

#[test]
fn a_field_checks_its_lengths_as_well_as_its_pattern() {
    assert!(SESSION_NAME.holds("ab"));
    assert!(!SESSION_NAME.holds("a"));
    assert!(!SESSION_NAME.holds(&"a".repeat(65)));
    assert!(!SECRET_NAME.holds(&"a".repeat(254)));
    let m = REGION.message("US");
    assert_eq!(
        m,
        "spec.region \"US\" is not a region name such as us-west-1"
    );
}

#[test]
fn an_sts_endpoint_is_a_bounded_origin() {
    let holds = |v: &str| STS_ENDPOINT.holds(v) && (STS_ENDPOINT_ORIGIN.holds)(v);
    for ok in [
        "https://sts-fips.us-east-1.amazonaws.com",
        "https://vpce-0a1b-x.sts.us-east-1.vpce.amazonaws.com/",
        "https://sts.internal:8443",
        "http://127.0.0.1:5000",
        "https://[::1]:8443",
    ] {
        assert!(holds(ok), "{ok}");
    }
    let long = format!("https://{}.example.com", "a".repeat(10 * 1024));
    for bad in [
        long.as_str(),
        "https://sts.example.com\n",
        "https://sts.example\r\n.com",
        "https://sts.example.com\u{0}",
        "https://sts.example.com/path",
        "https://sts.example.com?Action=x",
        "https://user@sts.example.com",
        "https://sts.example.com#f",
        "ftp://sts.example.com",
        "sts.example.com",
        "https://",
        "https://sts.example.com:",
    ] {
        assert!(!holds(bad), "{bad:?}");
    }
    assert!(STS_ENDPOINT.len.1 < 1024);
    let (cel, message) = STS_ENDPOINT_ORIGIN.schema();
    assert!(cel.contains("isURL(self)"), "{cel}");
    assert!(message.starts_with("stsEndpoint must be"), "{message}");
}
