//! When S3 refuses a request because KMS refused it: the caller may not
//! use the key an SSE-KMS object is (to be) encrypted with, or the key
//! cannot be used at all. S3 reports the first as `AccessDenied` whose
//! message names the KMS action and the key ("User: ARN is not authorized
//! to perform: kms:GenerateDataKey on resource: arn:aws:kms:...:key/...");
//! the second with a `KMS.*` error code (`KMS.DisabledException`,
//! `KMS.NotFoundException`, ...). Read once here from the tamed answer,
//! into a [`KmsRefusal`]: decisions are made on its fields, and only
//! values that match a strict pattern are kept.

use std::sync::LazyLock;

use regex::Regex;

/// The KMS actions S3 calls for SSE-KMS objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
pub enum KmsAction {
    /// Writing an SSE-KMS object.
    #[strum(serialize = "kms:GenerateDataKey")]
    GenerateDataKey,
    /// Reading an SSE-KMS object (and multipart writes).
    #[strum(serialize = "kms:Decrypt")]
    Decrypt,
    /// Writing with some clients and key types.
    #[strum(serialize = "kms:Encrypt")]
    Encrypt,
}

impl KmsAction {
    /// The IAM action.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What KMS refused, as far as S3 said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsRefusal {
    /// The caller may not use the key: the action and, if named, the key ARN.
    NotAllowed {
        /// The KMS action refused.
        action: KmsAction,
        /// The key's ARN, when the message names one.
        key: Option<String>,
    },
    /// The key cannot be used (disabled, pending deletion, not found):
    /// S3's `KMS.*` error code.
    KeyUnusable(String),
}

/// A `KMS.` error code: `KMS.` and at most 64 letters.
static KMS_CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^KMS\\.[A-Za-z]{1,64}$").expect("a valid pattern"));

/// "... perform: kms:Action on resource: arn:...:key/ID ...".
static NOT_AUTHORIZED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"not authorized to perform: (kms:[A-Za-z]{1,64})(?: on resource: (arn:aws[a-z-]{0,16}:kms:[a-z0-9-]{1,32}:[0-9]{12}:key/[A-Za-z0-9-]{1,128}))?",
    )
    .expect("a valid pattern")
});

/// The KMS refusal an S3 error `code` with `message` reports, if any.
pub fn refusal(code: &str, message: Option<&str>) -> Option<KmsRefusal> {
    if KMS_CODE.is_match(code) {
        return Some(KmsRefusal::KeyUnusable(code.to_string()));
    }
    if code != "AccessDenied" {
        return None;
    }
    let m = NOT_AUTHORIZED.captures(message?)?;
    let action = m.get(1)?.as_str().parse::<KmsAction>().ok()?;
    Some(KmsRefusal::NotAllowed {
        action,
        key: m.get(2).map(|k| k.as_str().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn an_access_denied_naming_a_kms_action_is_a_kms_refusal() {
        let m = format!(
            "User: arn:aws:iam::111122223333:user/app is not authorized to perform: kms:GenerateDataKey on resource: {KEY} because no identity-based policy allows the kms:GenerateDataKey action"
        );
        assert_eq!(
            refusal("AccessDenied", Some(&m)),
            Some(KmsRefusal::NotAllowed {
                action: KmsAction::GenerateDataKey,
                key: Some(KEY.into())
            })
        );
        let m = format!("... not authorized to perform: kms:Decrypt on resource: {KEY}");
        assert!(matches!(
            refusal("AccessDenied", Some(&m)),
            Some(KmsRefusal::NotAllowed {
                action: KmsAction::Decrypt,
                ..
            })
        ));
        assert_eq!(
            refusal("KMS.DisabledException", Some("the key is disabled")),
            Some(KmsRefusal::KeyUnusable("KMS.DisabledException".into()))
        );
    }

    #[test]
    fn anything_else_is_not() {
        assert_eq!(refusal("AccessDenied", Some("Access Denied")), None);
        assert_eq!(refusal("AccessDenied", None), None);
        // An S3 action is S3's denial, not KMS's.
        let s3 = "User: x is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::b/k";
        assert_eq!(refusal("AccessDenied", Some(s3)), None);
        // A KMS action this operator does not call, and codes that only look alike.
        let other = "not authorized to perform: kms:ScheduleKeyDeletion on resource: x";
        assert_eq!(refusal("AccessDenied", Some(other)), None);
        for code in [
            "KMS.",
            "KMS.Disabled Exception",
            "XKMS.Disabled",
            &format!("KMS.{}", "A".repeat(65)),
        ] {
            assert_eq!(refusal(code, None), None, "{code}");
        }
    }

    #[test]
    fn a_hostile_key_in_the_message_is_not_kept() {
        for key in [
            "arn:aws:kms:us-east-1:111122223333:key/x\u{1b}[31m",
            "arn:aws:kms:us-east-1:111122223333:key/\nforged",
            &format!(
                "arn:aws:kms:us-east-1:111122223333:key/{}",
                "a".repeat(10_000)
            ),
        ] {
            let m = format!("not authorized to perform: kms:Decrypt on resource: {key}");
            match refusal("AccessDenied", Some(&m)) {
                Some(KmsRefusal::NotAllowed { key: Some(k), .. }) => {
                    assert!(k.len() <= 200 && !k.chars().any(char::is_control), "{k:?}")
                }
                Some(KmsRefusal::NotAllowed { key: None, .. }) => {}
                other => panic!("{other:?}"),
            }
        }
    }
}
