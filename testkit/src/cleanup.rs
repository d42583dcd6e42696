//! Removing what a test created: when its [`TestEnv`] is dropped, also
//! while the test unwinds from a failed assertion, on a thread of its own
//! with fresh clients.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use s3_connection_operator::crd::S3Connection;

use crate::aws::{admin_credentials, iam_client, s3_client};
use crate::env::TestEnv;
use crate::minio::{Minio, minio_admin};

/// Something a test created, to remove afterwards.
#[derive(Debug, Clone)]
pub(crate) enum Created {
    Namespace(String),
    Bucket(String),
    MinioBucket(String),
    /// A MinIO user and the canned policy of the same name.
    MinioUser(String),
    User(String),
    Role(String),
    HelmRelease {
        name: String,
        namespace: String,
    },
}

impl Drop for TestEnv {
    /// Remove what the test created, on a thread of its own with fresh
    /// clients (the test's runtime may be unwinding from a failed assertion).
    fn drop(&mut self) {
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        if created.is_empty() {
            return;
        }
        let endpoint = self.endpoint.clone();
        let kubeconfig = self.kubeconfig.clone();
        let cleaner = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            rt.block_on(async {
                let work = remove_all(created, &endpoint, &kubeconfig);
                if tokio::time::timeout(Duration::from_secs(60), work)
                    .await
                    .is_err()
                {
                    eprintln!("cleanup did not finish within 60s");
                }
            });
        });
        let _ = cleaner.join();
    }
}

async fn remove_all(mut created: Vec<Created>, endpoint: &str, kubeconfig: &str) {
    let kube = Client::try_default().await.ok();
    let s3 = s3_client(endpoint, admin_credentials());
    let iam = iam_client(endpoint, admin_credentials());
    // Releases first: they own cluster-wide RBAC objects.
    created.sort_by_key(|c| !matches!(c, Created::HelmRelease { .. }));
    for c in created {
        let res = match &c {
            Created::HelmRelease { name, namespace } => uninstall(name, namespace, kubeconfig),
            Created::Namespace(name) => match &kube {
                Some(k) => {
                    release_connections(k, name).await;
                    Api::<Namespace>::all(k.clone())
                        .delete(name, &DeleteParams::default())
                        .await
                        .map(|_| ())
                        .or_else(ignore_not_found)
                }
                None => Err("no Kubernetes client".into()),
            },
            Created::Bucket(name) => remove_bucket(&s3, name).await,
            Created::MinioBucket(name) => remove_bucket(&Minio::from_env().s3, name).await,
            Created::MinioUser(name) => {
                minio_admin(&["user-remove", name, "--", "policy-remove", name])
                    .await
                    .map(|_| ())
            }
            Created::User(name) => remove_user(&iam, name).await,
            Created::Role(name) => remove_role(&iam, name).await,
        };
        if let Err(e) = res {
            eprintln!("cleanup of {c:?} failed: {e}");
        }
    }
}

/// Drop the finalizers of the connections in `ns`: the operator that would
/// remove them has stopped with the test, and the namespace would stay
/// Terminating.
async fn release_connections(kube: &Client, ns: &str) {
    let api: Api<S3Connection> = Api::namespaced(kube.clone(), ns);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return;
    };
    let patch = serde_json::json!({ "metadata": { "finalizers": null } });
    for c in list
        .items
        .iter()
        .filter(|c| c.metadata.finalizers.is_some())
    {
        let name = c.metadata.name.clone().unwrap_or_default();
        let _ = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
    }
}

/// `helm uninstall`; a release that is not there is gone already.
fn uninstall(name: &str, namespace: &str, kubeconfig: &str) -> Result<(), String> {
    let out = Command::new("helm")
        // Without hooks: a test that failed half-way may have no node to
        // run them; the connections' finalizers are released with their
        // namespaces.
        .args(["uninstall", name, "--namespace", namespace, "--no-hooks"])
        .env("KUBECONFIG", kubeconfig)
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("not found") => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

fn ignore_not_found(e: kube::Error) -> Result<(), String> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        e => Err(e.to_string()),
    }
}

fn debug(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

async fn remove_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    let listed = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .map_err(debug)?;
    let versions = listed
        .versions()
        .iter()
        .map(|v| (v.key(), v.version_id()))
        .chain(
            listed
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id())),
        );
    for (key, version) in versions {
        s3.delete_object()
            .bucket(bucket)
            .key(key.unwrap_or_default())
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(debug)?;
    }
    s3.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map(|_| ())
        .map_err(debug)
}

async fn remove_user(iam: &aws_sdk_iam::Client, user: &str) -> Result<(), String> {
    let keys = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .map_err(debug)?;
    for k in keys.access_key_metadata() {
        iam.delete_access_key()
            .user_name(user)
            .set_access_key_id(k.access_key_id().map(str::to_string))
            .send()
            .await
            .map_err(debug)?;
    }
    let policies = iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .map_err(debug)?;
    for p in policies.policy_names() {
        iam.delete_user_policy()
            .user_name(user)
            .policy_name(p)
            .send()
            .await
            .map_err(debug)?;
    }
    iam.delete_user()
        .user_name(user)
        .send()
        .await
        .map(|_| ())
        .map_err(debug)
}

async fn remove_role(iam: &aws_sdk_iam::Client, role: &str) -> Result<(), String> {
    let policies = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(debug)?;
    for p in policies.policy_names() {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(p)
            .send()
            .await
            .map_err(debug)?;
    }
    iam.delete_role()
        .role_name(role)
        .send()
        .await
        .map(|_| ())
        .map_err(debug)
}
