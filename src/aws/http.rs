//! The one HTTPS client every SDK client uses ([`https_client`]), and the
//! bound on what it reads of a response ([`BoundedBodies`]).

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// An HTTPS client: rustls with the platform's roots plus `extra_roots`,
/// through the proxy `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` name, with bodies
/// bounded ([`BoundedBodies`]).
pub fn https_client(extra_roots: Option<&[u8]>) -> Result<SharedHttpClient, String> {
    use aws_smithy_http_client::tls;
    let mut trust = tls::TrustStore::default();
    if let Some(pem) = extra_roots {
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| e.to_string())?;
    let client = aws_smithy_http_client::Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut b = aws_smithy_http_client::Connector::builder();
            b.set_connector_settings(settings.cloned());
            if let Some(c) = components {
                b.set_sleep_impl(c.sleep_impl());
            }
            b.proxy_config(aws_smithy_http_client::proxy::ProxyConfig::from_env())
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(context.clone())
                .build()
        },
    );
    Ok(BoundedBodies::wrap(client, MAX_RESPONSE_BODY))
}

/// No response body is read beyond this: responses of the calls a validation
/// makes are a few kilobytes (the probe object is read with its own, smaller
/// bound), so a larger one is an endpoint misbehaving, not data to buffer.
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// An HTTP client whose response bodies end with an error once they exceed
/// a limit, whatever the endpoint sends. The SDK reads non-streaming
/// responses into memory; this bounds that memory.
#[derive(Debug, Clone)]
pub struct BoundedBodies {
    inner: SharedHttpClient,
    limit: usize,
}

impl BoundedBodies {
    /// `inner`, reading at most `limit` bytes of each response body.
    pub fn wrap(inner: SharedHttpClient, limit: usize) -> SharedHttpClient {
        SharedHttpClient::new(Self { inner, limit })
    }
}

impl HttpClient for BoundedBodies {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BoundedConnector {
            inner: self.inner.http_connector(settings, components),
            limit: self.limit,
        })
    }
}

#[derive(Debug)]
struct BoundedConnector {
    inner: SharedHttpConnector,
    limit: usize,
}

impl HttpConnector for BoundedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let response = self.inner.call(request);
        let limit = self.limit;
        HttpConnectorFuture::new(async move {
            let response = response.await?;
            Ok(response
                .map(|body| SdkBody::from_body_1_x(http_body_util::Limited::new(body, limit))))
        })
    }
}
