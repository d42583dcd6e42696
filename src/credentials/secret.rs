//! Static credentials from a Secret of the connection's namespace. Only a
//! Secret meant for credentials is used: of type `Opaque` (never a
//! ServiceAccount token, a TLS key, a registry login or any other typed
//! Secret, which belong to something else) and, when the operator requires
//! it, labelled [`CREDENTIALS_LABEL`]`=true`. Nothing of any other Secret is
//! read, so none of its values can leave for an endpoint.

use aws_credential_types::Credentials;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::ObjectMeta;

use super::{KeyFlaw, Part, Resolved, ValueFlaw, check_value};
use crate::messages;
use crate::outcome::Problem;
use crate::spec::SecretKeys;

/// The only Secret type whose values may be used as credentials.
pub const CREDENTIALS_TYPE: &str = "Opaque";

/// The label (value `"true"`) a Secret needs to be used for credentials when
/// the operator requires it (`--require-credentials-label`).
pub const CREDENTIALS_LABEL: &str = "s3connection.dev/credentials";

/// The label selector of the Secrets that may hold credentials.
pub fn credentials_selector() -> String {
    format!("{CREDENTIALS_LABEL}=true")
}

/// Whether `secret` may be used for credentials: of type `Opaque` (a Secret
/// without a type is one), and labelled when `require_label`. Checked
/// before any of its values is read.
pub fn check_meant_for_credentials(secret: &Secret, require_label: bool) -> Result<(), Problem> {
    let name = secret.name_any();
    if let Some(t) = secret.type_.as_deref().filter(|t| *t != CREDENTIALS_TYPE) {
        return Err(messages::secret_type_not_allowed(&name, t));
    }
    if require_label && !labelled(&secret.metadata) {
        return Err(messages::secret_label_missing(&name, CREDENTIALS_LABEL));
    }
    Ok(())
}

/// Whether a Secret carries [`CREDENTIALS_LABEL`]`=true`.
pub fn labelled(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(CREDENTIALS_LABEL))
        .is_some_and(|v| v == "true")
}

/// Read the configured keys out of a Secret.
pub fn credentials_from_secret(secret: &Secret, keys: &SecretKeys) -> Result<Resolved, Problem> {
    let name = secret.name_any();
    let data = secret.data.as_ref();
    let read = |key: &str, part: Part| -> Result<String, Problem> {
        let missing = |flaw| messages::secret_key_missing(&name, key, flaw);
        let Some(bytes) = data.and_then(|d| d.get(key)) else {
            return Err(missing(KeyFlaw::Absent));
        };
        let invalid = |flaw| messages::secret_value_invalid(&name, key, flaw);
        let text =
            std::str::from_utf8(&bytes.0).map_err(|_| invalid(ValueFlaw::NotPrintable(part)))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(missing(KeyFlaw::Empty));
        }
        check_value(part, text).map_err(invalid)?;
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
    fn only_opaque_secrets_and_when_required_labelled_ones_hold_credentials() {
        let mut s = secret(&[("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE")]);
        assert!(
            check_meant_for_credentials(&s, false).is_ok(),
            "no type: Opaque"
        );
        s.type_ = Some("Opaque".into());
        assert!(check_meant_for_credentials(&s, false).is_ok());
        let p = check_meant_for_credentials(&s, true).unwrap_err();
        assert_eq!(p.reason, Reason::SecretLabelMissing);
        assert!(
            p.message.contains("s3connection.dev/credentials"),
            "{}",
            p.message
        );
        s.metadata.labels = Some([(CREDENTIALS_LABEL.to_string(), "false".to_string())].into());
        assert!(check_meant_for_credentials(&s, true).is_err());
        s.metadata.labels = Some([(CREDENTIALS_LABEL.to_string(), "true".to_string())].into());
        assert!(check_meant_for_credentials(&s, true).is_ok());
        for t in [
            "kubernetes.io/service-account-token",
            "kubernetes.io/tls",
            "kubernetes.io/dockerconfigjson",
            "kubernetes.io/basic-auth",
            "example.com/anything",
        ] {
            s.type_ = Some(t.into());
            for required in [false, true] {
                let p = check_meant_for_credentials(&s, required).unwrap_err();
                assert_eq!(p.reason, Reason::SecretTypeNotAllowed, "{t}");
                assert!(
                    p.message.contains(t) && p.message.contains("Opaque"),
                    "{}",
                    p.message
                );
            }
        }
        // A type made to forge text is tamed.
        s.type_ = Some("x\nFAKE LOG LINE".into());
        let p = check_meant_for_credentials(&s, false).unwrap_err();
        assert!(!p.message.contains('\n'), "{}", p.message);
    }

    #[test]
    fn value_texts_tell_neither_length_nor_kind_of_characters() {
        let long = "A".repeat(4000);
        let texts: Vec<String> = [&b"AKIA\nX"[..], b"\xff\xfe", long.as_bytes()]
            .into_iter()
            .map(|id| {
                let s = secret(&[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", b"k")]);
                let p = credentials_from_secret(&s, &ak()).unwrap_err();
                assert_eq!(p.reason, Reason::SecretValueInvalid);
                p.message
            })
            .collect();
        assert!(texts.iter().all(|t| *t == texts[0]), "{texts:?}");
        assert!(!texts[0].contains("4000"), "{}", texts[0]);
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
