//! Per-service limits on requests in flight.
//!
//! AWS throttles some services per account and region well below what a parallel deploy
//! sends (EC2's mutating calls, IAM's control plane). The SDK's standard retry backs off
//! on a throttling error; a limit keeps most of those errors from happening. [`Limited`]
//! wraps a service client's HTTP client so that at most `n` of its requests are on the
//! wire at once. A retried attempt queues again, and the SDK's backoff sleeps hold no
//! permit.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::Semaphore;

/// Requests in flight to EC2 from one provider, at most.
pub(crate) const EC2: usize = 8;
/// Requests in flight to IAM from one provider, at most.
pub(crate) const IAM: usize = 4;

/// An HTTP client that lets at most as many requests through at once as `permits` has.
#[derive(Debug, Clone)]
pub(crate) struct Limited {
    inner: SharedHttpClient,
    permits: Arc<Semaphore>,
}

impl Limited {
    /// `inner`, with at most `permits`' permits of requests in flight.
    pub(crate) fn new(inner: SharedHttpClient, permits: Arc<Semaphore>) -> Limited {
        Limited { inner, permits }
    }
}

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            permits: self.permits.clone(),
        })
    }
}

/// The HTTPS client the SDK makes when a configuration names none (rustls on aws-lc, a
/// proxy from the environment), made here because a limit needs a client to wrap:
/// configurations loaded from the environment name none.
pub(crate) fn default_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    permits: Arc<Semaphore>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, permits) = (self.inner.clone(), self.permits.clone());
        HttpConnectorFuture::new(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// A connector that answers after 20 ms and records the most calls it had at once.
    #[derive(Debug, Default)]
    struct Counts {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    #[derive(Debug)]
    struct Slow(Arc<Counts>);

    impl HttpConnector for Slow {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let me = self.0.clone();
            HttpConnectorFuture::new(async move {
                let now = me.now.fetch_add(1, Ordering::SeqCst) + 1;
                me.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                me.now.fetch_sub(1, Ordering::SeqCst);
                Ok(HttpResponse::new(200.try_into().unwrap(), SdkBody::empty()))
            })
        }
    }

    #[tokio::test]
    async fn no_more_requests_than_permits_are_in_flight_and_all_are_answered() {
        let counts = Arc::new(Counts::default());
        let limited = LimitedConnector {
            inner: SharedHttpConnector::new(Slow(counts.clone())),
            permits: Arc::new(Semaphore::new(3)),
        };
        let calls = (0..12).map(|_| limited.call(HttpRequest::empty()));
        let answers = futures::future::join_all(calls).await;
        assert!(
            answers.iter().all(|a| a.is_ok()),
            "every request is answered"
        );
        assert_eq!(counts.most.load(Ordering::SeqCst), 3, "at most 3 at once");
    }
}
