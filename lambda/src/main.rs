//! `bootstrap`: the payment processor's custom-runtime entry point. Logs JSON lines, reads
//! the configuration from the environment, builds the AWS clients and serves requests with
//! [`payment_processor::serve`].

use std::sync::Arc;

use lambda_http::{Request, service_fn};
use payment_processor::{Config, aws_deps, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,aws_config=warn")),
        )
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "payment-processor cannot start");
            eprintln!("payment-processor: {err}");
            std::process::exit(1);
        }
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(config.region.clone()))
        .load()
        .await;
    let deps = Arc::new(aws_deps(&sdk, &config));
    tracing::info!(
        region = %config.region,
        bucket = %config.bucket,
        environment_suffix = %config.environment_suffix,
        "payment-processor started"
    );
    lambda_http::run(service_fn(move |request: Request| {
        let deps = Arc::clone(&deps);
        async move { serve(&deps, request).await }
    }))
    .await
}
