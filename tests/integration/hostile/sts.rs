//! A hostile STS: it answers AssumeRole and AssumeRoleWithWebIdentity for
//! any role with credentials that claim to expire in year 9999, with a
//! session token of the size the role's name asks for (see [`token_len`]).
//! Anything else is refused like [`super::server::Behaviour::Record`].

use std::sync::atomic::{AtomicUsize, Ordering};

/// The expiry every answer claims.
pub(super) const FAR_FUTURE: &str = "9999-12-31T23:59:59Z";

/// Roles whose name starts with this get a 512 KiB session token; others
/// get one of 8,000 bytes (just under the longest the operator accepts).
pub(super) const BIG: &str = "big-";
pub(super) const BIG_TOKEN: usize = 512 * 1024;
pub(super) const FIT_TOKEN: usize = 8000;

static ISSUED: AtomicUsize = AtomicUsize::new(0);

/// The session token size for the role named in a form body.
fn token_len(body: &str) -> usize {
    if body.contains(&format!("role%2F{BIG}")) || body.contains(&format!("role/{BIG}")) {
        BIG_TOKEN
    } else {
        FIT_TOKEN
    }
}

/// The answer to an STS form `body`, if it asks to assume a role.
pub(super) fn answer(body: &str) -> Option<String> {
    let action = body
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))?
        .to_string();
    if action != "AssumeRole" && action != "AssumeRoleWithWebIdentity" {
        return None;
    }
    let n = ISSUED.fetch_add(1, Ordering::SeqCst);
    let token = "T".repeat(token_len(body));
    let xml = format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result>\
         <Credentials><AccessKeyId>ASIAHOSTILE{n:08}</AccessKeyId>\
         <SecretAccessKey>hostile-secret-{n:08}</SecretAccessKey>\
         <SessionToken>{token}</SessionToken><Expiration>{FAR_FUTURE}</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>AROAHOSTILE:s{n}</AssumedRoleId>\
         <Arn>arn:aws:sts::123456789012:assumed-role/r/s{n}</Arn></AssumedRoleUser>\
         </{action}Result><ResponseMetadata><RequestId>r{n}</RequestId></ResponseMetadata></{action}Response>"
    );
    Some(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}",
        xml.len()
    ))
}
