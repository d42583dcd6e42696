//! What a ServiceAccount token says about itself: its claims (the token's
//! signature is not checked: a test reads tokens it saw leave).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The claims of JWT `token`, if it is one.
pub fn claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The audiences (`aud`, a string or a list) of JWT `token`.
pub fn audiences(token: &str) -> Vec<String> {
    match claims(token).and_then(|c| c.get("aud").cloned()) {
        Some(serde_json::Value::String(a)) => vec![a],
        Some(serde_json::Value::Array(list)) => list
            .into_iter()
            .filter_map(|a| a.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}
