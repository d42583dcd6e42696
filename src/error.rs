//! Errors of the operator itself (as opposed to problems with a connection,
//! which are reported in its status). Each carries context and a metric label.

use std::time::Duration;

/// An error of the operator itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed: usually missing RBAC or an unreachable
    /// API server. The message names the call, so a missing rule is obvious.
    #[error("Kubernetes API call failed: {context}: {source}")]
    Kube {
        /// The call, e.g. "get Secret team/creds".
        context: String,
        /// What kube said.
        #[source]
        source: kube::Error,
    },

    /// A Kubernetes API call did not answer in time.
    #[error("Kubernetes API call timed out after {timeout:?}: {context}")]
    KubeTimeout {
        /// The call.
        context: String,
        /// How long it was given.
        timeout: Duration,
    },

    /// A value could not be (de)serialized.
    #[error("serialization failed: {0}")]
    Serialization(#[from] serde_json::Error),
}

impl Error {
    /// [`Error::Kube`] for the call `context`.
    pub fn kube(context: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            context: context.into(),
            source,
        }
    }

    /// Label for the `errors` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } => match source {
                kube::Error::Api(s) if s.code == 403 => "kube_forbidden",
                kube::Error::Api(s) if s.code == 409 => "kube_conflict",
                kube::Error::Api(_) => "kube_api",
                _ => "kube_client",
            },
            Error::KubeTimeout { .. } => "kube_timeout",
            Error::Serialization(_) => "serialization",
        }
    }

    /// A hint for the log when the cause is most likely the operator's RBAC.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } if s.code == 403 => Some(
                "the operator's ServiceAccount lacks an RBAC rule for this call; check the ClusterRole installed with the operator",
            ),
            _ => None,
        }
    }
}

/// A result whose error is the operator's own.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `call` to the API server, given at most `timeout`: [`Error::KubeTimeout`]
/// about `context` when it did not answer in time. Every call the operator
/// makes is bounded so (a status patch, an event, a token request, a get):
/// an API server that does not answer holds no validation slot or reconcile
/// beyond it.
pub async fn within<T>(
    timeout: Duration,
    context: impl FnOnce() -> String,
    call: impl std::future::Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| Error::KubeTimeout {
            context: context(),
            timeout,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_does_not_answer_in_time_is_a_kube_timeout() {
        let t = Duration::from_millis(10);
        let never = std::future::pending::<()>();
        match within(t, || "get Secret ns/s".to_string(), never).await {
            Err(e @ Error::KubeTimeout { .. }) => {
                assert_eq!(e.metric_label(), "kube_timeout");
                assert!(e.to_string().contains("get Secret ns/s"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(within(t, String::new, async { 7 }).await.unwrap(), 7);
    }
}
