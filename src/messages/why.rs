//! The sentences of `why NAME`: what a live connection's status means, and
//! the command that fixes it. `program` is how the user called us
//! (`kubectl s3c` or `s3-connection-operator`), so the commands quoted are
//! ones they can paste.

/// `word` as one shell word: unchanged when it is made only of characters a
/// shell leaves alone, else in single quotes.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._:/=@,+-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The first line: which connection, and whether it works.
pub fn headline(ns: &str, name: &str, state: &str, reason: &str) -> String {
    format!("S3Connection {ns}/{name} is {state} ({reason}).")
}

/// No Ready condition yet.
pub fn not_validated(ns: &str, name: &str) -> String {
    format!(
        "S3Connection {ns}/{name} has not been validated yet: its status has no Ready condition."
    )
}

/// What to check when nothing was validated.
pub const OPERATOR_RUNNING: &str = "Check that the operator runs and watches this namespace: `kubectl get pods -A -l app.kubernetes.io/name=s3-connection-operator` and its logs.";

/// The status is about an older spec.
pub fn older_generation(observed: i64, generation: i64) -> String {
    format!(
        "The status describes generation {observed}; the current spec (generation {generation}) has not been validated yet."
    )
}

/// `spec.suspend` is set.
pub fn suspended(ns: &str, name: &str) -> String {
    format!(
        "Validation is suspended (spec.suspend). Resume it: kubectl patch s3connection {name} -n {ns} --type merge -p '{{\"spec\":{{\"suspend\":false}}}}'"
    )
}

/// One permission's line.
pub fn permission_line(action: &str, result: &str, message: &str) -> String {
    if message.is_empty() {
        format!("  {action}: {result}")
    } else {
        format!("  {action}: {result} ({message})")
    }
}

/// Who the credentials are.
pub fn identity_line(identity: &str) -> String {
    format!("Identity: {identity}")
}

/// Where the bucket is.
pub fn bucket_region_line(region: &str) -> String {
    format!("Bucket region: {region}")
}

/// A probe object left in the bucket.
pub fn leftover_line(bucket: &str, key: &str) -> String {
    format!("Left over: s3://{bucket}/{key} (the operator could not delete its probe object).")
}

/// Introduces the fix.
pub const FIX: &str = "Fix:";

/// Nothing to fix.
pub const NOTHING_TO_FIX: &str = "Nothing to fix.";

/// Some permissions could not be proved either way.
pub const UNVERIFIED: &str = "Permissions marked Unverified could not be proved either way on this store; see the message of each.";

/// Attach the identity policy.
pub fn attach_policy(program: &str, ns: &str, name: &str, identity: Option<&str>) -> String {
    let to = identity
        .map(|i| format!(" to {i}"))
        .unwrap_or_else(|| " to the user or role of these credentials".into());
    format!(
        "Attach the policy that `{program} policy {name} -n {ns}` prints{to} (it grants exactly the requested permissions on this bucket and path)."
    )
}

/// Grant the KMS key.
pub fn kms_grant(program: &str, ns: &str, name: &str) -> String {
    format!(
        "Grant the KMS action the message names on that key (IAM policy and key policy): `{program} policy {name} -n {ns}` prints the statement when spec.probe.kmsKeyId is the key's ARN."
    )
}

/// Fix the role's trust policy.
pub fn trust_policy(program: &str, ns: &str, name: &str) -> String {
    format!(
        "Let the role trust this caller: `{program} policy --trust {name} -n {ns}` prints the trust policy the role needs."
    )
}

/// Create the Secret with the keys the spec names.
pub fn create_secret(ns: &str, secret: &str, id_key: &str, secret_key: &str) -> String {
    format!(
        "Create the Secret: kubectl create secret generic {} -n {ns} --from-literal={}=<access key id> --from-literal={}=<secret access key>",
        shell_word(secret),
        shell_word(id_key),
        shell_word(secret_key)
    )
}

/// Put the right keys or values into the Secret.
pub fn edit_secret(ns: &str, secret: &str) -> String {
    format!(
        "Correct the Secret as the message says: kubectl edit secret {} -n {ns}",
        shell_word(secret)
    )
}

/// Label the Secret for the operator.
pub fn label_secret(ns: &str, secret: &str, label: &str) -> String {
    format!(
        "Label the Secret for the operator: kubectl label secret {} -n {ns} {label}=true",
        shell_word(secret)
    )
}

/// Put the credentials into an `Opaque` Secret.
pub fn opaque_secret(secret: &str) -> String {
    format!(
        "Put the credentials into a Secret of type Opaque (kubectl create secret generic ...) and name it in spec.auth.accessKey.secretName instead of {}.",
        shell_word(secret)
    )
}

/// Replace rejected keys.
pub fn rotate_keys(ns: &str, secret: &str) -> String {
    format!(
        "Put valid, active keys into the Secret: kubectl edit secret {} -n {ns} (or recreate it); the operator re-validates when it changes.",
        shell_word(secret)
    )
}

/// Create the ServiceAccount.
pub fn create_service_account(ns: &str, sa: &str) -> String {
    format!(
        "Create the ServiceAccount: kubectl create serviceaccount {} -n {ns}",
        shell_word(sa)
    )
}

/// Name the role.
pub fn name_role(ns: &str, sa: &str) -> String {
    format!(
        "Name the role: set spec.auth.iamRole.roleArn, or kubectl annotate serviceaccount {} -n {ns} eks.amazonaws.com/role-arn=arn:aws:iam::<account>:role/<name>",
        shell_word(sa)
    )
}

/// The operator's identity is off.
pub const OPERATOR_IDENTITY: &str = "Use a ServiceAccount (spec.auth.iamRole.serviceAccountName) or access keys, or ask the operator's administrator to enable its own identity (Helm value allowOperatorIdentity).";

/// The endpoint is not allowed.
pub fn allow_endpoint(entry: &str) -> String {
    format!(
        "Ask the operator's administrator to allow the endpoint: Helm value allowedEndpoints (flag --allowed-endpoint {}).",
        shell_word(entry)
    )
}

/// Point the connection at the bucket's region.
pub fn set_region(ns: &str, name: &str, region: &str) -> String {
    format!(
        "Set the bucket's region: kubectl patch s3connection {name} -n {ns} --type merge -p '{{\"spec\":{{\"region\":\"{region}\"}}}}'"
    )
}

/// Region unknown.
pub const SET_REGION_UNKNOWN: &str =
    "Set spec.region to the region the bucket lives in (the message names it when S3 told).";

/// The bucket name.
pub const CHECK_BUCKET: &str =
    "Check spec.bucket (and spec.endpoint): S3 says no such bucket exists there.";

/// The rest: the message says what to do.
pub const SEE_MESSAGE: &str = "Do what the message above says.";

/// Temporary: the operator retries by itself.
pub const RETRIED: &str = "Nothing, if it is temporary: the operator retries with backoff. If it persists, check that the endpoint is reachable from the operator's pods.";

/// How to ask for a validation now.
pub fn request_now(ns: &str, name: &str) -> String {
    format!(
        "Then, to validate at once: kubectl annotate s3connection {name} -n {ns} s3connection.dev/requested-at=\"$(date +%s)\" --overwrite"
    )
}

/// The connection was not found.
pub fn not_found(ns: &str, name: &str) -> String {
    format!("S3Connection {ns}/{name} not found")
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("aws-creds"), "aws-creds");
        assert_eq!(shell_word("AWS_ACCESS_KEY_ID"), "AWS_ACCESS_KEY_ID");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("$(rm -rf x)"), "'$(rm -rf x)'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
