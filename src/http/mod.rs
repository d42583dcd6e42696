//! `/healthz` and `/readyz` on one plain HTTP port (for the kubelet's
//! probes); `/metrics` on another, over HTTPS to clients the API server
//! authenticates and allows to `get` `/metrics` ([`access`], [`tls`]), or in
//! plain HTTP to anyone when told so (`--metrics-secure=false`: local
//! development and the tests).

pub mod access;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use access::{Access, KubeReviews, Reviews, Verdict};
use futures::StreamExt;

use crate::telemetry::scrape::Scrapes;
use tls::Certificate;

/// What the endpoints serve from.
#[derive(Clone)]
pub struct HttpState {
    /// The metrics `/metrics` encodes at each scrape.
    pub registry: Arc<Registry>,
    /// True once the watch caches are synced.
    pub ready: Arc<AtomicBool>,
}

/// Where and how the two servers listen.
#[derive(Debug, Clone)]
pub struct Serving {
    /// `/healthz` and `/readyz`, plain HTTP.
    pub health_addr: SocketAddr,
    /// `/metrics`.
    pub metrics_addr: SocketAddr,
    /// HTTPS with TokenReview and SubjectAccessReview; else plain HTTP, open
    /// to whoever reaches the port.
    pub secure: bool,
    /// `tls.crt` and `tls.key` for HTTPS; `None`: self-signed.
    pub cert_dir: Option<PathBuf>,
    /// Names for a self-signed certificate.
    pub cert_names: Vec<String>,
}

/// The probe routes: `/healthz` (the process answers) and `/readyz` (503
/// until [`HttpState::ready`]).
pub fn health_router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// What `/metrics` serves from, and who may read it (`None`: anyone).
pub struct MetricsState<R> {
    /// The metrics encoded at each scrape.
    pub scrapes: Scrapes,
    /// The gate; `None` in plain mode.
    pub access: Option<Arc<Access<R>>>,
}

impl<R> Clone for MetricsState<R> {
    fn clone(&self) -> Self {
        Self {
            scrapes: self.scrapes.clone(),
            access: self.access.clone(),
        }
    }
}

/// The `/metrics` route.
pub fn metrics_router<R: Reviews + 'static>(state: MetricsState<R>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::<R>))
        .with_state(state)
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet")
    }
}

async fn metrics<R: Reviews + 'static>(
    State(s): State<MetricsState<R>>,
    headers: HeaderMap,
) -> Response {
    if let Some(access) = &s.access {
        let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
        match access.check(authorization).await {
            Verdict::Allowed => {}
            refused => return refusal(refused),
        }
    }
    let Ok(text) = s.scrapes.start() else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "Too many scrapes at once; try again\n",
        )
            .into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        Body::from_stream(text.map(Ok::<_, std::convert::Infallible>)),
    )
        .into_response()
}

/// The answer to a request [`Access`] did not allow.
fn refusal(verdict: Verdict) -> Response {
    match verdict {
        Verdict::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "Unauthorized: send a Kubernetes bearer token (Authorization: Bearer <token>)\n",
        )
            .into_response(),
        Verdict::Forbidden => (
            StatusCode::FORBIDDEN,
            "Forbidden: this identity may not get the non-resource URL /metrics (bind it to the chart's metrics-reader ClusterRole)\n",
        )
            .into_response(),
        Verdict::Busy => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "Too many token reviews; try again\n",
        )
            .into_response(),
        Verdict::Unavailable | Verdict::Allowed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The API server did not review the token; try again\n",
        )
            .into_response(),
    }
}

/// Serve `router` in plain HTTP on `addr` until the process ends.
pub async fn serve_plain(addr: SocketAddr, router: Router, what: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving {what} (HTTP)");
    axum::serve(listener, router).await
}

/// Both servers, until the process ends or one fails. The certificate is
/// read (or made) before anything listens: a bad one stops the start.
pub async fn serve(
    serving: Serving,
    client: kube::Client,
    state: HttpState,
) -> std::io::Result<()> {
    if serving.health_addr == serving.metrics_addr && serving.metrics_addr.port() != 0 {
        return Err(std::io::Error::other(format!(
            "--health-addr and --metrics-addr are both {}: give them different ports",
            serving.metrics_addr
        )));
    }
    let health = serve_plain(
        serving.health_addr,
        health_router(state.clone()),
        "/healthz and /readyz",
    );
    let metrics = async {
        if !serving.secure {
            let router = metrics_router::<KubeReviews>(MetricsState {
                scrapes: Scrapes::new(state.registry.clone()),
                access: None,
            });
            return serve_plain(serving.metrics_addr, router, "/metrics to anyone").await;
        }
        let cert = Certificate::load(serving.cert_dir.as_deref(), &serving.cert_names)
            .map(Arc::new)
            .map_err(|e| std::io::Error::other(format!("metrics serving certificate: {e}")))?;
        cert.clone().watch();
        let router = metrics_router(MetricsState {
            scrapes: Scrapes::new(state.registry.clone()),
            access: Some(Arc::new(Access::new(KubeReviews(client)))),
        });
        tracing::info!(
            addr = %serving.metrics_addr,
            certificate = serving.cert_dir.as_deref().map_or("self-signed".into(), |d| d.display().to_string()),
            "serving /metrics (HTTPS; TokenReview and SubjectAccessReview for get /metrics)"
        );
        tls::serve(serving.metrics_addr, cert, router).await
    };
    tokio::try_join!(health, metrics).map(|_| ())
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::telemetry::Metrics;

    async fn get(state: &HttpState, path: &str) -> (StatusCode, String, String) {
        let router =
            health_router(state.clone()).merge(metrics_router::<KubeReviews>(MetricsState {
                scrapes: Scrapes::new(state.registry.clone()),
                access: None,
            }));
        let req = Request::get(path).body(Body::empty()).unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let kind = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, kind, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn ready_once_synced_and_metrics_in_openmetrics() {
        let mut registry = Registry::default();
        Metrics::default().register(&mut registry);
        let state = HttpState {
            registry: Arc::new(registry),
            ready: Arc::default(),
        };
        assert_eq!(get(&state, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get(&state, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.ready.store(true, Ordering::SeqCst);
        assert_eq!(get(&state, "/readyz").await.0, StatusCode::OK);
        let (status, kind, body) = get(&state, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        assert!(body.contains("s3connection_build_info{version="), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    /// `ok` authenticates and is allowed, `no` authenticates only.
    struct Fake;

    impl Reviews for Fake {
        async fn authenticate(&self, token: &str) -> Result<Option<access::User>, kube::Error> {
            Ok((token == "ok" || token == "no").then(|| access::User {
                name: token.into(),
                ..Default::default()
            }))
        }
        async fn authorize(&self, user: &access::User) -> Result<bool, kube::Error> {
            Ok(user.name == "ok")
        }
    }

    #[tokio::test]
    async fn metrics_answer_401_403_200_by_token() {
        let router = metrics_router(MetricsState {
            scrapes: Scrapes::new(Arc::new(Registry::default())),
            access: Some(Arc::new(Access::new(Fake))),
        });
        let status = |token: Option<&'static str>| {
            let router = router.clone();
            async move {
                let mut req = Request::get("/metrics");
                if let Some(t) = token {
                    req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
                }
                let resp = router
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                (
                    resp.status(),
                    resp.headers().get(header::WWW_AUTHENTICATE).cloned(),
                )
            }
        };
        let (code, challenge) = status(None).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.unwrap(), "Bearer");
        assert_eq!(status(Some("bad")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(status(Some("no")).await.0, StatusCode::FORBIDDEN);
        assert_eq!(status(Some("ok")).await.0, StatusCode::OK);
    }
}
