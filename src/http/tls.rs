//! The serving certificate of `/metrics` and the TLS listener.
//!
//! The certificate is `tls.crt`/`tls.key` of a directory (a mounted
//! Secret, such as cert-manager writes) when one is given, re-read when the
//! files change so that a renewed certificate is served without a restart;
//! otherwise a self-signed one made at startup (the scraper then cannot
//! verify who it talks to: see docs/security.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Largest certificate or key file read (a chain of a few certificates is
/// a few KiB).
const MAX_FILE: u64 = 256 * 1024;
/// How often the certificate directory is looked at again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// Longest a client may take to finish the TLS handshake, and to send a
/// request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 64;

/// The certificate file in the directory (as in a `kubernetes.io/tls` Secret).
pub const CERT_FILE: &str = "tls.crt";
/// The key file in the directory.
pub const KEY_FILE: &str = "tls.key";

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read, or is larger than the bound.
    #[error("{path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The files hold no usable certificate and key.
    #[error("{dir}: {reason}")]
    Invalid {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with its contents.
        reason: String,
    },
}

/// The certificate served now; swapped when the files change.
#[derive(Debug)]
pub struct Certificate {
    current: RwLock<Arc<CertifiedKey>>,
    source: Option<PathBuf>,
    digest: RwLock<[u8; 32]>,
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

impl Certificate {
    /// From `dir`'s `tls.crt` and `tls.key`, or self-signed for `names`
    /// (DNS names or IP addresses) when `dir` is `None`.
    pub fn load(dir: Option<&Path>, names: &[String]) -> Result<Self, CertError> {
        let (key, digest) = match dir {
            Some(dir) => read_pair(dir)?,
            None => (self_signed(names)?, [0; 32]),
        };
        Ok(Self {
            current: RwLock::new(Arc::new(key)),
            source: dir.map(Path::to_path_buf),
            digest: RwLock::new(digest),
        })
    }

    /// Read the directory again; swap the certificate if its files changed
    /// and are valid. `Ok(true)` when swapped. A bad new pair keeps the old
    /// one in service.
    pub fn reload(&self) -> Result<bool, CertError> {
        let Some(dir) = &self.source else {
            return Ok(false);
        };
        let (digest, (cert, key)) = read_files(dir)?;
        if digest == *self.digest.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(false);
        }
        let key = certified(dir, &cert, &key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        *self.digest.write().unwrap_or_else(|p| p.into_inner()) = digest;
        Ok(true)
    }

    /// The end-entity certificate served now (DER).
    pub fn served(&self) -> CertificateDer<'static> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.cert[0].clone()
    }

    /// Re-read the directory every [`RELOAD_EVERY`], for as long as the
    /// process runs.
    pub fn watch(self: Arc<Self>) {
        if self.source.is_none() {
            return;
        }
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match self.reload() {
                    Ok(true) => tracing::info!("metrics serving certificate reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(
                        error = %e,
                        "metrics serving certificate not reloaded; still serving the previous one"
                    ),
                }
            }
        });
    }
}

type Pair = (Vec<u8>, Vec<u8>);

/// The two files, and a digest of both.
fn read_files(dir: &Path) -> Result<([u8; 32], Pair), CertError> {
    let cert = read_bounded(&dir.join(CERT_FILE))?;
    let key = read_bounded(&dir.join(KEY_FILE))?;
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_le_bytes());
    h.update(&cert);
    h.update(&key);
    Ok((h.finalize().into(), (cert, key)))
}

fn read_pair(dir: &Path) -> Result<(CertifiedKey, [u8; 32]), CertError> {
    let (digest, (cert, key)) = read_files(dir)?;
    Ok((certified(dir, &cert, &key)?, digest))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, CertError> {
    use std::io::Read;
    let err = |reason: String| CertError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(err(format!("larger than {MAX_FILE} bytes")));
    }
    Ok(bytes)
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// A chain and its key from PEM, the key matching the first certificate.
fn certified(dir: &Path, cert: &[u8], key: &[u8]) -> Result<CertifiedKey, CertError> {
    let invalid = |reason: String| CertError::Invalid {
        dir: dir.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{CERT_FILE} is not PEM certificates: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(format!("{CERT_FILE} holds no certificate")));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| invalid(format!("{KEY_FILE} is not a PEM private key: {e}")))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| invalid(format!("{KEY_FILE} does not fit {CERT_FILE}: {e}")))
}

fn self_signed(names: &[String]) -> Result<CertifiedKey, CertError> {
    let invalid = |reason: String| CertError::Invalid {
        dir: PathBuf::from("<self-signed>"),
        reason,
    };
    // Only names a certificate can carry (a host name with other bytes is
    // left out rather than failing the start).
    let usable = |n: &&String| {
        !n.is_empty()
            && n.len() <= 253
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
    };
    let names: Vec<String> = names.iter().filter(usable).cloned().collect();
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| invalid(format!("making a certificate: {e}")))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    CertifiedKey::from_der(vec![made.cert.der().clone()], key, &provider())
        .map_err(|e| invalid(e.to_string()))
}

/// Serve `router` over TLS on `addr` until the process ends: each
/// connection in its own task, with deadlines for the handshake and the
/// request headers, at most [`MAX_CONNECTIONS`] at once.
pub async fn serve(
    addr: SocketAddr,
    cert: Arc<Certificate>,
    router: axum::Router,
) -> std::io::Result<()> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: try again shortly.
                tracing::debug!(error = %e, "accepting a /metrics connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "a /metrics client failed the TLS handshake");
                    return;
                }
                Err(_) => {
                    tracing::debug!("a /metrics client did not finish the TLS handshake in time");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "a /metrics connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, names: &[&str]) -> CertificateDer<'static> {
        let made = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let key_pem = made.signing_key.serialize_pem();
        let cert_pem = made.cert.pem();
        std::fs::write(dir.join(CERT_FILE), cert_pem).unwrap();
        std::fs::write(dir.join(KEY_FILE), key_pem).unwrap();
        made.cert.der().clone()
    }

    #[test]
    fn self_signed_when_no_directory() {
        let c = Certificate::load(None, &["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(!c.served().is_empty());
        assert!(!c.reload().unwrap(), "nothing to reload");
    }

    #[test]
    fn from_a_directory_and_reloaded_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_pair(dir.path(), &["a.example"]);
        let c = Certificate::load(Some(dir.path()), &[]).unwrap();
        assert_eq!(c.served(), first);
        assert!(!c.reload().unwrap(), "unchanged");
        let second = write_pair(dir.path(), &["b.example"]);
        assert!(c.reload().unwrap());
        assert_eq!(c.served(), second);
        // A key that does not fit keeps the previous pair in service.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), other.serialize_pem()).unwrap();
        let e = c.reload().unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        assert_eq!(c.served(), second);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Certificate::load(Some(dir.path()), &[]).unwrap_err();
        assert!(e.to_string().contains(CERT_FILE), "{e}");
        std::fs::write(dir.path().join(CERT_FILE), "not pem").unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not pem").unwrap();
        let e = Certificate::load(Some(dir.path()), &[]).unwrap_err();
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        std::fs::write(
            dir.path().join(CERT_FILE),
            vec![b'a'; MAX_FILE as usize + 1],
        )
        .unwrap();
        let e = Certificate::load(Some(dir.path()), &[]).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
