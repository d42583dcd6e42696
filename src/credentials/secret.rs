//! Static credentials from a Secret of the connection's namespace.

use aws_credential_types::Credentials;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use super::{KeyFlaw, Part, Resolved, check_value};
use crate::messages;
use crate::outcome::Problem;
use crate::spec::SecretKeys;

/// Read the configured keys out of a Secret.
pub fn credentials_from_secret(secret: &Secret, keys: &SecretKeys) -> Result<Resolved, Problem> {
    let name = secret.name_any();
    let data = secret.data.as_ref();
    let read = |key: &str, part: Part| -> Result<String, Problem> {
        let missing = |flaw| messages::secret_key_missing(&name, key, flaw);
        let Some(bytes) = data.and_then(|d| d.get(key)) else {
            return Err(missing(KeyFlaw::Absent));
        };
        let text = std::str::from_utf8(&bytes.0).map_err(|_| missing(KeyFlaw::NotText))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(missing(KeyFlaw::Empty));
        }
        check_value(part, text).map_err(|flaw| messages::secret_value_invalid(&name, key, flaw))?;
        Ok(text.to_string())
    };
    let id = read(&keys.access_key_id_key, Part::AccessKeyId)?;
    let secret_key = read(&keys.secret_access_key_key, Part::SecretAccessKey)?;
    let token = match &keys.session_token_key {
        Some(k) => Some(read(k, Part::SessionToken)?),
        None => None,
    };
    let credentials = Credentials::new(id, secret_key, token, None, "s3connection-secret");
    Ok(Resolved::new(credentials, None, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reason;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(pairs: &[(&str, &[u8])]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("creds".into()),
                resource_version: Some("42".into()),
                ..Default::default()
            },
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn ak() -> SecretKeys {
        SecretKeys {
            secret_name: "creds".into(),
            access_key_id_key: "AWS_ACCESS_KEY_ID".into(),
            secret_access_key_key: "AWS_SECRET_ACCESS_KEY".into(),
            session_token_key: None,
        }
    }

    #[test]
    fn secret_with_default_keys_resolves_and_trims() {
        let s = secret(&[
            ("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE\n"),
            ("AWS_SECRET_ACCESS_KEY", b"secretsecret"),
        ]);
        let r = credentials_from_secret(&s, &ak()).unwrap();
        assert_eq!(r.credentials.access_key_id(), "AKIAEXAMPLE");
        assert_eq!(
            r.redactor.scrub("x AKIAEXAMPLE secretsecret"),
            "x [REDACTED] [REDACTED]"
        );
        assert!(!format!("{r:?}").contains("AKIAEXAMPLE"));
    }

    #[test]
    fn missing_or_empty_keys_are_reported_by_name_without_values() {
        let s = secret(&[("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE")]);
        let p = credentials_from_secret(&s, &ak()).unwrap_err();
        assert_eq!(p.reason, Reason::SecretKeyMissing);
        assert!(p.message.contains("AWS_SECRET_ACCESS_KEY"));
        assert!(!p.message.contains("AKIAEXAMPLE"));

        let s = secret(&[
            ("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", b"  "),
        ]);
        let p = credentials_from_secret(&s, &ak()).unwrap_err();
        assert!(p.message.contains("empty"));

        let mut with_token = ak();
        with_token.session_token_key = Some("TOKEN".into());
        let s = secret(&[
            ("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", b"secretsecret"),
        ]);
        let p = credentials_from_secret(&s, &with_token).unwrap_err();
        assert!(p.message.contains("TOKEN"));
    }

    #[test]
    fn values_that_cannot_be_header_values_are_refused_by_key_not_value() {
        for (id, key) in [
            (&b"AKIA\nINJECTED"[..], &b"secret"[..]),
            (b"AKIA WITH SPACE", b"secret"),
            (b"AKIAOK", b"se\x01cret"),
        ] {
            let s = secret(&[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", key)]);
            let p = credentials_from_secret(&s, &ak()).unwrap_err();
            assert_eq!(p.reason, Reason::SecretValueInvalid);
            assert!(p.message.contains("\"creds\""), "{}", p.message);
            assert!(!p.message.contains("INJECTED") && !p.message.contains("se\x01"));
        }
        let long = "A".repeat(129);
        let s = secret(&[
            ("AWS_ACCESS_KEY_ID", long.as_bytes()),
            ("AWS_SECRET_ACCESS_KEY", b"secret"),
        ]);
        let p = credentials_from_secret(&s, &ak()).unwrap_err();
        assert!(p.message.contains("AWS_ACCESS_KEY_ID") && p.message.contains("128"));
    }

    #[test]
    fn custom_key_names_are_used() {
        let a = SecretKeys {
            secret_name: "creds".into(),
            access_key_id_key: "id".into(),
            secret_access_key_key: "key".into(),
            session_token_key: Some("tok".into()),
        };
        let s = secret(&[
            ("id", b"AKIAEXAMPLE"),
            ("key", b"secretsecret"),
            ("tok", b"token-value"),
        ]);
        let r = credentials_from_secret(&s, &a).unwrap();
        assert_eq!(r.credentials.session_token(), Some("token-value"));
    }
}
