//! The payment processor Lambda function (custom runtime, `provided.al2023`).
//!
//! `POST /payment` validates a payment and records it once per idempotency key: in the
//! region's Aurora PostgreSQL database (the `payments` table, made on first use), then,
//! after the commit, as `transactions/<sha256 of the key>.json` in the region's bucket (the
//! transaction log). `GET /health` checks the bucket, the database secret and the database
//! itself (`select 1`), reporting each one's status and latency. Everything testable lives
//! here: the handler ([`handle`]) is generic over its dependencies ([`PaymentLedger`],
//! [`TransactionStore`], [`HealthProbe`]), which [`PgLedger`], [`S3Store`] and [`AwsProbe`]
//! implement; `main.rs` only wires them to the Lambda runtime through [`serve`].

mod aws;
mod config;
mod db;
mod deps;
mod handler;
mod payment;

#[cfg(test)]
mod tests;

pub use aws::{AwsProbe, S3Store, aws_deps};
pub use config::{
    Config, ConfigError, DB_USER_VAR, DEFAULT_DB_PORT, ENV_VARS, arn_region, host_port,
};
pub use db::{DEFAULT_DB_TIMEOUT, PgLedger, SCHEMA};
pub use deps::{
    CheckResult, HealthProbe, PaymentLedger, PutOutcome, Recorded, StoreError, TransactionStore,
};
pub use handler::{DEFAULT_CHECK_TIMEOUT, Deps, HttpReply, handle};
pub use payment::{
    CARD_TOKEN_PREFIX, CURRENCIES, FieldError, MAX_AMOUNT, MAX_CARD_TOKEN_LEN,
    MAX_IDEMPOTENCY_KEY_LEN, MAX_MERCHANT_ID_LEN, PaymentError, PaymentRequest, TransactionRecord,
    card_fingerprint, looks_like_card_number, object_key, parse_payment,
};

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

impl HttpReply {
    /// The reply as a Lambda HTTP response with a JSON body.
    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(Body::from(self.body.to_string()));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// Serves one Lambda HTTP event (API Gateway or function URL) with [`handle`] at the
/// current time.
pub async fn serve<L: PaymentLedger, S: TransactionStore, H: HealthProbe>(
    deps: &Deps<L, S, H>,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let reply = handle(
        deps,
        request.method().as_str(),
        request.uri().path(),
        request.body().as_ref(),
        time::OffsetDateTime::now_utc(),
    )
    .await;
    Ok(reply.into_response())
}
