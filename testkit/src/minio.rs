//! The local MinIO (`make test` starts it): TLS with a CA of its own that
//! the environment generated (`S3C_MINIO_CA_CERT`), its own IAM, and OpenID
//! web identity against the test API server's keys. Its buckets and users,
//! made through a [`TestEnv`], are removed afterwards.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use serde_json::Value;

use crate::aws::{IamUser, policy_document};
use crate::cleanup::Created;
use crate::env::{REGION, TestEnv, unique, var};

/// MinIO as the environment describes it.
pub struct Minio {
    /// `https://127.0.0.1:<port>`.
    pub endpoint: String,
    pub root_user: String,
    pub root_password: String,
    /// PEM of the CA that signed MinIO's certificate.
    pub ca_pem: String,
    /// A root client trusting that CA.
    pub s3: aws_sdk_s3::Client,
}

impl Minio {
    pub fn from_env() -> Self {
        let endpoint = var("S3C_MINIO_ENDPOINT");
        let ca_path = var("S3C_MINIO_CA_CERT");
        let ca_pem = std::fs::read_to_string(&ca_path).expect("read S3C_MINIO_CA_CERT");
        let (root_user, root_password) =
            (var("S3C_MINIO_ROOT_USER"), var("S3C_MINIO_ROOT_PASSWORD"));
        let http = s3_connection_operator::aws::https_client(Some(ca_pem.as_bytes()))
            .expect("an HTTPS client trusting the MinIO CA");
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .http_client(http)
            .credentials_provider(Credentials::new(
                &root_user,
                &root_password,
                None,
                None,
                "minio-root",
            ))
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(conf),
            endpoint,
            root_user,
            root_password,
            ca_pem,
        }
    }

    /// `self.endpoint` with `localhost` for `127.0.0.1` (the certificate
    /// names both).
    pub fn endpoint_by_name(&self) -> String {
        self.endpoint.replace("127.0.0.1", "localhost")
    }
}

/// Run hack/minio-admin (`$S3C_MINIO_ADMIN`) with `args`; its stdout.
pub async fn minio_admin(args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new(var("S3C_MINIO_ADMIN"))
        .args(args)
        .output()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl TestEnv {
    /// A bucket on the local MinIO, removed (with every version) afterwards.
    pub async fn minio_bucket(&self, minio: &Minio, prefix: &str) -> String {
        let name = unique(prefix);
        minio
            .s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create MinIO bucket");
        self.remember(Created::MinioBucket(name.clone()));
        name
    }

    /// A MinIO user whose canned policy (of the same name) holds
    /// `statements`; removed with its policy afterwards.
    pub async fn minio_user(&self, prefix: &str, statements: Value) -> IamUser {
        let name = unique(prefix);
        // MinIO: secret keys of 8 to 40 characters.
        let secret: String = format!("{}{}", unique("sk"), std::process::id())
            .chars()
            .rev()
            .take(40)
            .collect();
        let policy = policy_document(statements);
        self.remember(Created::MinioUser(name.clone()));
        minio_admin(&[
            "user-add",
            &name,
            &secret,
            "--",
            "policy-add",
            &name,
            &policy,
            "--",
            "policy-attach",
            &name,
            &name,
        ])
        .await
        .unwrap_or_else(|e| panic!("MinIO user {name}: {e}"));
        IamUser {
            access_key_id: name.clone(),
            name,
            secret_access_key: secret,
        }
    }
}
