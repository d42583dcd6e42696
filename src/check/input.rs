//! What `check` was told: the connection's namespace, and where its
//! credentials come from, decided from the flags and the spec's auth
//! method before anything is read. A combination that does not say one
//! thing clearly is refused with one line.

use crate::spec::AuthMethod;

/// Where a connection's credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The cluster of the current kubeconfig (the spec's Secret, or a
    /// ServiceAccount token exchanged as the operator does).
    Cluster,
    /// The spec's Secret, from a `--secret-file`.
    SecretFile,
    /// The AWS credential chain of this machine (environment, profile).
    Local,
}

/// The credential flags as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--from-cluster`.
    pub from_cluster: bool,
    /// At least one `--secret-file`.
    pub secret_files: bool,
    /// `--use-local-credentials`.
    pub local: bool,
}

/// Said when no credential flag was given.
pub const NO_SOURCE: &str = "say where the credentials come from: --from-cluster (the Secret named in the spec, read with the current kubeconfig), --secret-file FILE (a Secret manifest) or --use-local-credentials (this machine's AWS credentials)";

/// Flags that contradict each other whatever the spec says.
pub fn conflicting(f: Flags) -> Option<&'static str> {
    (f.from_cluster && (f.secret_files || f.local)).then_some(
        "--from-cluster reads every Secret from the cluster: give it without --secret-file and --use-local-credentials",
    )
}

/// Where the credentials of a connection authenticating with `auth` come
/// from, given `f`; `file_has_secret` says whether a `--secret-file` holds
/// the access-key Secret the spec names.
pub fn origin(f: Flags, auth: &AuthMethod, file_has_secret: bool) -> Result<Origin, String> {
    if let Some(conflict) = conflicting(f) {
        return Err(conflict.into());
    }
    match auth {
        AuthMethod::AccessKey(keys) => match (f.from_cluster, f.local, f.secret_files) {
            (true, _, _) => Ok(Origin::Cluster),
            (false, true, _) if file_has_secret => Err(format!(
                "both --use-local-credentials and the --secret-file Secret {:?} give credentials: give one of them (with --use-local-credentials a --secret-file holds only the spec.caSecretRef Secret)",
                keys.secret_name
            )),
            (false, true, _) => Ok(Origin::Local),
            (false, false, true) => Ok(Origin::SecretFile),
            (false, false, false) => Err(NO_SOURCE.into()),
        },
        AuthMethod::Irsa(_) if f.from_cluster => Ok(Origin::Cluster),
        AuthMethod::Irsa(role) => Err(format!(
            "spec.auth.iamRole gets its credentials with a token of ServiceAccount {:?}, exchanged as the operator does: give --from-cluster (you need get on the ServiceAccount and create on its token)",
            role.service_account
        )),
        AuthMethod::OperatorRole(_) => Err(
            "spec.auth.iamRole without serviceAccountName assumes the role with the operator's own identity, which check cannot act as; check it in the cluster (kubectl get s3connection), or give the role a ServiceAccount".into(),
        ),
    }
}

/// The connection's namespace: the manifest's, else `-n`, else the
/// kubeconfig's (with `--from-cluster`), else `default`. A manifest and a
/// `-n` that disagree are refused, as kubectl refuses them.
pub fn namespace(
    manifest: Option<&str>,
    flag: Option<&str>,
    kubeconfig: Option<&str>,
) -> Result<String, String> {
    match (manifest, flag) {
        (Some(m), Some(f)) if m != f => Err(crate::cli::one_line(&format!(
            "the manifest's namespace {m:?} differs from -n {f:?}: give one"
        ))),
        (Some(ns), _) | (None, Some(ns)) => Ok(ns.to_string()),
        (None, None) => Ok(kubeconfig.unwrap_or("default").to_string()),
    }
}
