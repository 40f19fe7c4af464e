//! What the handler needs from the outside world, as traits: the payments ledger (the
//! database), the transaction log (the bucket) and the health checks of the function's
//! dependencies. [`crate::db`] and [`crate::aws`] implement them over PostgreSQL and AWS;
//! unit tests implement them in memory.

use std::future::Future;

use crate::payment::TransactionRecord;

/// A failure of the ledger or the transaction log (the message names the operation and
/// the object, never record contents or credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// What [`TransactionStore::put_if_absent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object did not exist and was written.
    Written,
    /// An object already existed under the key; nothing was written.
    AlreadyExists,
}

/// What [`PaymentLedger::record`] found: the payment as stored, and whether this call
/// stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// No payment had the idempotency key; this one was stored (and committed).
    New(TransactionRecord),
    /// A payment with the idempotency key was already stored: that one, unchanged.
    Existing(TransactionRecord),
}

/// The system of record for payments: one payment per idempotency key.
pub trait PaymentLedger: Send + Sync {
    /// Stores `record` unless a payment with its idempotency key exists, in one committed
    /// transaction, and returns the stored payment either way.
    fn record(
        &self,
        record: &TransactionRecord,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

/// The transaction log: objects by key, written at most once (the bucket, written after
/// the ledger's commit).
pub trait TransactionStore: Send + Sync {
    /// The object under `key`, or `None` when there is none.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Writes `body` under `key` unless an object already exists there.
    fn put_if_absent(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;
}

/// The outcome of one health check: `Err` carries why the dependency is unusable.
pub type CheckResult = Result<(), String>;

/// Health checks of the function's dependencies. Each check must not reveal secret values
/// in its error.
pub trait HealthProbe: Send + Sync {
    /// Whether the transaction bucket is reachable.
    fn bucket(&self) -> impl Future<Output = CheckResult> + Send;
    /// Whether the database secret is readable (in the secret's own region).
    fn db_secret(&self) -> impl Future<Output = CheckResult> + Send;
    /// Whether the database answers a query (`select 1`) with the secret's credentials.
    fn database(&self) -> impl Future<Output = CheckResult> + Send;

    /// The Aurora global database's latest replication lag in milliseconds, `Ok(None)`
    /// when there is no recent figure. Informational: the health report shows it (the
    /// review's fix 8) but it does not make the function unhealthy; the replication-lag
    /// alarm judges it.
    fn replication_lag_ms(&self) -> impl Future<Output = Result<Option<f64>, String>> + Send {
        async { Ok(None) }
    }
}
