//! Texts that sum a validation up: Ready's message, the policy hint.

/// The statements a policy needs for this location, as a hint, in the
/// bucket's partition (`aws`, `aws-cn`, `aws-us-gov`).
pub fn policy_hint(partition: &str, bucket: &str, prefix: &str) -> String {
    format!(
        "s3:ListBucket on arn:{partition}:s3:::{bucket}, object actions on arn:{partition}:s3:::{bucket}/{prefix}*"
    )
}

/// Every request was denied.
pub fn all_denied(location: &str, denied: &str, hint: &str) -> String {
    format!(
        "The credentials are valid but S3 denied every request for {location} ({denied}). Grant them in the IAM policy ({hint}).{POLICY_COMMAND}"
    )
}

/// Some permissions were denied.
pub fn some_denied(location: &str, denied: &str, hint: &str) -> String {
    format!(
        "S3 denied {denied} on {location}. Add them to the IAM policy ({hint}).{POLICY_COMMAND}"
    )
}

/// Ready: what was proved, and as whom.
pub fn connected(
    location: &str,
    identity: Option<&str>,
    allowed: &str,
    unverified: &str,
) -> String {
    let who = identity.map(|i| format!(" as {i}")).unwrap_or_default();
    let mut m = format!("Connected to {location}{who}");
    if !allowed.is_empty() {
        m.push_str(&format!("; proved {allowed}"));
    }
    m.push('.');
    if !unverified.is_empty() {
        m.push_str(&format!(
            " Not provable: {unverified} (see status.permissions)."
        ));
    }
    m
}

/// Appended to a message while the bucket's Object Lock retains a probe
/// version.
pub fn retained_suffix(bucket: &str, key: &str, version: &str) -> String {
    format!(
        " Version {version} of probe object s3://{bucket}/{key} is retained by the bucket's Object Lock; it is deleted when the retention ends, and no other probe object is written until then."
    )
}

/// Appended to a message while a probe object is left.
pub fn leftover_suffix(bucket: &str, key: &str) -> String {
    format!(" Probe object s3://{bucket}/{key} is left over; delete it or grant s3:DeleteObject.")
}

/// Every request refused, and the requests did not say they pay: the
/// refusal may be a Requester Pays bucket's.
pub const REQUESTER_PAYS_HINT: &str = " If the bucket is a Requester Pays bucket of another account, set spec.probe.requesterPays: true.";

/// Appended when a write without encryption was denied: it may be a
/// bucket policy's rule.
pub const ENCRYPTION_HINT: &str = " If a bucket policy requires encryption on writes, set spec.probe.serverSideEncryption (and kmsKeyId) to what it requires.";

/// Appended to a denial: where the whole policy comes from.
pub const POLICY_COMMAND: &str =
    " `s3-connection-operator policy -f <file>` prints the whole policy for this connection.";

/// Appended to a refusal by the role's trust policy: where the trust
/// policy comes from.
pub const TRUST_COMMAND: &str = " `s3-connection-operator policy --trust -f <file>` prints the trust policy the role needs for this connection.";

/// The `policy` command: IRSA without `roleArn` asks for s3:ReplicateObject.
pub const SIMULATION_ROLE_UNKNOWN: &str = "note: spec.auth.iamRole.roleArn is not set, so the policy has no iam:SimulatePrincipalPolicy statement; allow it on the role's own ARN, or s3:ReplicateObject stays Unverified.";

/// `policy --trust` of a connection with an access key.
pub const TRUST_FOR_ACCESS_KEY: &str = "the connection uses an access key, which assumes no role, so there is no trust policy to print; the identity policy (without --trust) goes on the key's IAM user";

/// `policy --trust` could not tell the audience: how to say it.
pub const AUDIENCE_FLAG: &str =
    "For this command, --audience names the audience the operator is configured with.";

/// `policy --trust` of a connection with the operator's own identity,
/// without `--operator-principal`.
pub const OPERATOR_PRINCIPAL_MISSING: &str = "the connection assumes its role with the operator's own identity: give --operator-principal ARN, the IAM role or user the operator runs as (with IRSA, its ServiceAccount's eks.amazonaws.com/role-arn)";

/// `policy --bucket-policy` of a connection whose spec names no role.
pub const BUCKET_POLICY_PRINCIPAL_MISSING: &str = "the spec names no role to let into the bucket: give --principal ARN, the IAM user or role the connection's credentials belong to";

/// `policy --trust` with IRSA, without `--oidc-issuer`, and the cluster
/// could not say its issuer (`why`).
pub fn issuer_unknown(why: &str) -> String {
    format!(
        "the trust policy names the cluster's service-account issuer: give --oidc-issuer URL (on EKS: aws eks describe-cluster --query cluster.identity.oidc.issuer), or a kubeconfig that can read /.well-known/openid-configuration ({why})"
    )
}

/// `policy --trust` with the operator's own identity, without
/// `--cluster-name`, and the cluster could not say its kube-system UID
/// (`why`).
pub fn cluster_name_unknown(why: &str) -> String {
    format!(
        "the ExternalId is <cluster>:<namespace>: give --cluster-name as the operator has it, or a kubeconfig that can read namespaces/kube-system (the operator's default is its UID) ({why})"
    )
}

/// `policy --trust` of a manifest without a namespace: the trust policy
/// names `ns`.
pub fn namespace_assumed(ns: &str) -> String {
    format!(
        "note: the manifest names no namespace, so the trust policy is for namespace {ns:?} (the kubeconfig's, else default); -n NAMESPACE gives another."
    )
}

/// The `policy` command: SSE-KMS with a key the policy cannot name.
pub const KMS_KEY_UNNAMED: &str = "note: spec.probe.kmsKeyId is not a key ARN (or is not set: the bucket's default key), so the policy has no KMS statement; allow kms:GenerateDataKey (writing) and kms:Decrypt (reading back) on the key's ARN, and let the key policy allow them.";

/// The `policy` command was given another kind of document.
pub fn not_an_s3connection(kind: Option<&str>, api_version: Option<&str>) -> String {
    super::printable(&format!(
        "not an S3Connection (apiVersion {:?}, kind {:?}); expected apiVersion s3connection.dev/v1alpha1, kind S3Connection",
        api_version.unwrap_or(""),
        kind.unwrap_or("")
    ))
}
