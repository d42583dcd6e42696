//! Secrets given with `--secret-file`: Secret manifests (YAML or JSON, any
//! number of documents, other kinds skipped), each file bounded like any
//! manifest, read the way the API server stores them (`stringData` merged
//! into `data`, where it wins), found by name in the connection's
//! namespace.

use std::path::PathBuf;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use crate::cli::{manifest, one_line};
use crate::credentials::Redactor;
use crate::spec::SecretKeys;

/// The Secrets of every `--secret-file`.
#[derive(Debug, Default)]
pub struct SecretFiles {
    secrets: Vec<Secret>,
}

impl SecretFiles {
    /// Read every file; the error is one line naming the file and what is
    /// wrong with it.
    pub fn read(paths: &[PathBuf]) -> Result<Self, String> {
        let mut secrets: Vec<Secret> = Vec::new();
        for path in paths {
            let text = manifest::read_bounded(path)?;
            let found = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            secrets.extend(found);
        }
        Self::of(secrets)
    }

    /// The Secrets given, each (namespace, name) at most once.
    pub fn of(secrets: Vec<Secret>) -> Result<Self, String> {
        for (i, s) in secrets.iter().enumerate() {
            let same = |o: &Secret| {
                o.metadata.name == s.metadata.name && o.metadata.namespace == s.metadata.namespace
            };
            if secrets[..i].iter().any(same) {
                let name = s.metadata.name.as_deref().unwrap_or_default();
                return Err(one_line(&format!(
                    "Secret {name:?} is given more than once; give each Secret once"
                )));
            }
        }
        Ok(Self { secrets })
    }

    /// Whether no Secret was given.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Secret `name` of namespace `ns`: one that names `ns`, or one that
    /// names no namespace (as `kubectl apply -n ns` would create it).
    pub fn find(&self, ns: &str, name: &str) -> Option<&Secret> {
        let named = self
            .secrets
            .iter()
            .filter(|s| s.metadata.name.as_deref() == Some(name));
        let placed = |want: Option<&str>| {
            named
                .clone()
                .find(|s| s.metadata.namespace.as_deref() == want)
        };
        placed(Some(ns)).or_else(|| placed(None))
    }

    /// Register with `redactor` every value the connection's `keys` name in
    /// Secret `ns/name`, valid or not, and each of its lines, so that no
    /// log line or text shows them.
    pub fn redact_credentials(&self, ns: &str, keys: &SecretKeys, redactor: &mut Redactor) {
        let Some(data) = self
            .find(ns, &keys.secret_name)
            .and_then(|s| s.data.as_ref())
        else {
            return;
        };
        let named = [
            Some(&keys.access_key_id_key),
            Some(&keys.secret_access_key_key),
            keys.session_token_key.as_ref(),
        ];
        for key in named.into_iter().flatten() {
            if let Some(value) = data.get(key) {
                let text = String::from_utf8_lossy(&value.0);
                redactor.add(&text);
                text.lines().for_each(|l| redactor.add(l));
            }
        }
    }
}

/// The Secrets among the documents of `text`.
pub fn parse(text: &str) -> Result<Vec<Secret>, String> {
    let mut out = Vec::new();
    for value in manifest::documents(text)? {
        if manifest::group_kind(&value) != (Some(""), Some("Secret")) {
            continue;
        }
        let mut secret: Secret = yaml_serde::from_value(value)
            .map_err(|e| one_line(&format!("not a valid Secret: {e}")))?;
        if secret.metadata.name.as_deref().is_none_or(str::is_empty) {
            return Err("a Secret without metadata.name".into());
        }
        // As the API server stores it: stringData merged into data.
        if let Some(strings) = secret.string_data.take() {
            let data = secret.data.get_or_insert_with(Default::default);
            for (k, v) in strings {
                data.insert(k, ByteString(v.into_bytes()));
            }
        }
        out.push(secret);
    }
    Ok(out)
}
