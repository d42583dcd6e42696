//! The Secret that holds the probe marker's key ([`super::marker`]), in the
//! operator's own namespace.
//!
//! The operator creates it at startup when it is absent (every replica
//! tries; the first create wins, the others read what it wrote), and never
//! changes it afterwards: an admin rotates the key by moving `current` to
//! `previous` and writing a new `current`. Every replica reads the Secret
//! at startup and again every [`REFRESH`], so a rotation reaches all of
//! them within that time; `previous` keeps verifying objects written
//! before the rotation until the admin removes it.
//!
//! Why the operator and not the chart creates it: a chart can only keep a
//! random value across upgrades with `lookup`, which renders nothing under
//! `helm template`, Argo CD or Flux's post-rendering (a new key on every
//! sync), and Helm would also copy the key into every release record.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use super::marker::{KeyFlaw, MarkerKeys, SharedKeys, new_key};
use crate::error::Error;

/// The Secret's entry that signs.
pub const CURRENT: &str = "current";
/// The Secret's entry that still verifies after a rotation.
pub const PREVIOUS: &str = "previous";
/// How often every replica reads the Secret again.
pub const REFRESH: Duration = Duration::from_secs(60);
/// Upper bound for one API call about the Secret.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The API call failed (RBAC, API server).
    #[error(transparent)]
    Kube(#[from] Error),
    /// The Secret has no usable `current`, or a bad `previous`.
    #[error("Secret {namespace}/{name}: entry {entry:?} {flaw}")]
    Invalid {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// `current` or `previous`.
        entry: &'static str,
        /// What is wrong with it.
        flaw: KeyFlaw,
    },
    /// The Secret has no `current` entry at all.
    #[error(
        "Secret {namespace}/{name} has no entry \"current\"; delete the Secret to have a new key made"
    )]
    NoCurrent {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
}

/// Where the key lives.
#[derive(Debug, Clone)]
pub struct KeySecret {
    /// The operator's namespace.
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
}

impl KeySecret {
    fn api(&self, client: &Client) -> Api<Secret> {
        Api::namespaced(client.clone(), &self.namespace)
    }

    fn context(&self, verb: &str) -> String {
        format!("{verb} Secret {}/{}", self.namespace, self.name)
    }

    async fn call<T>(
        &self,
        verb: &str,
        f: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(CALL_TIMEOUT, f).await {
            Ok(r) => r.map_err(|e| Error::kube(self.context(verb), e)),
            Err(_) => Err(Error::KubeTimeout {
                context: self.context(verb),
                timeout: CALL_TIMEOUT,
            }),
        }
    }

    /// The keys in the Secret, creating it with a fresh key when absent.
    pub async fn load_or_create(&self, client: &Client) -> Result<MarkerKeys, KeysError> {
        let api = self.api(client);
        if let Some(s) = self.call("get", api.get_opt(&self.name)).await? {
            return self.keys_of(&s);
        }
        let fresh = Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "s3-connection-operator".to_string(),
                )])),
                annotations: Some(BTreeMap::from([(
                    "s3connection.dev/purpose".to_string(),
                    "HMAC key of probe object markers; rotate as docs/security.md says".to_string(),
                )])),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([(
                CURRENT.to_string(),
                ByteString(new_key().to_vec()),
            )])),
            ..Default::default()
        };
        match self
            .call("create", api.create(&PostParams::default(), &fresh))
            .await
        {
            Ok(s) => self.keys_of(&s),
            // Another replica created it first: use what it wrote.
            Err(Error::Kube {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 409 => {
                let s = self.call("get", api.get(&self.name)).await?;
                self.keys_of(&s)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The keys in `secret`.
    fn keys_of(&self, secret: &Secret) -> Result<MarkerKeys, KeysError> {
        let data = secret.data.as_ref();
        let entry = |k: &str| data.and_then(|d| d.get(k)).map(|b| b.0.as_slice());
        let Some(current) = entry(CURRENT) else {
            return Err(KeysError::NoCurrent {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            });
        };
        let invalid = |entry: &'static str, flaw| KeysError::Invalid {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            entry,
            flaw,
        };
        let previous = entry(PREVIOUS).filter(|p| !p.is_empty());
        MarkerKeys::new(current, None).map_err(|f| invalid(CURRENT, f))?;
        MarkerKeys::new(current, previous).map_err(|f| invalid(PREVIOUS, f))
    }

    /// Read the Secret every [`REFRESH`] and use what it holds; a failed
    /// read keeps the keys in use (and is logged).
    pub fn refresh(self, client: Client, keys: SharedKeys) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            tick.tick().await;
            loop {
                tick.tick().await;
                let read = match self.call("get", self.api(&client).get(&self.name)).await {
                    Ok(s) => self.keys_of(&s),
                    Err(e) => Err(e.into()),
                };
                match read {
                    Ok(k) => keys.set(k),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "could not read the probe marker key again; keeping the keys in use"
                    ),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(entries: &[(&str, &[u8])]) -> Secret {
        Secret {
            data: Some(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn at() -> KeySecret {
        KeySecret {
            namespace: "ops".into(),
            name: "probe-key".into(),
        }
    }

    #[test]
    fn current_signs_and_previous_still_verifies() {
        let old = MarkerKeys::new(&[1; 32], None)
            .unwrap()
            .sign("u", "k", b"b");
        let keys = at()
            .keys_of(&secret(&[(CURRENT, &[2; 32]), (PREVIOUS, &[1; 32])]))
            .unwrap();
        assert!(keys.verify("u", "k", b"b", &old));
        let without = at().keys_of(&secret(&[(CURRENT, &[2; 32]), (PREVIOUS, b"")]));
        assert!(!without.unwrap().verify("u", "k", b"b", &old));
    }

    #[test]
    fn a_missing_or_bad_entry_is_named_never_its_value() {
        let e = at().keys_of(&secret(&[])).unwrap_err().to_string();
        assert!(e.contains("ops/probe-key") && e.contains("current"), "{e}");
        let e = at()
            .keys_of(&secret(&[(CURRENT, b"short-secret-value")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"current\"") && e.contains("shorter"), "{e}");
        assert!(!e.contains("short-secret-value"), "{e}");
        let e = at()
            .keys_of(&secret(&[(CURRENT, &[2; 32]), (PREVIOUS, &[0; 2000])]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"previous\"") && e.contains("longer"), "{e}");
    }
}
