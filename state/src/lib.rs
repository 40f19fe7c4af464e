//! `iac-state`: the state store of the infrastructure engine, in an SQLite file or a
//! PostgreSQL database a team shares ([`Location`]).
//!
//! One state holds many stacks (a project plus a stack name, such as
//! `payment-dr/prod-001`). For each stack it records the resources with their inputs,
//! outputs, dependencies and options; the stack outputs; every deployment; a step journal
//! (an intent written before each cloud call, its result after); and a lock.
//!
//! Guarantees:
//! - SQLite: WAL journal, `synchronous=FULL`, writes in `BEGIN IMMEDIATE` transactions;
//!   PostgreSQL: one server transaction per write. Either way a commit that returned
//!   survives a crash, and a crash never leaves half a step.
//! - One code path above the rows: the secrets, JSON, integrity check, journal and
//!   history logic is [`StateStore`]'s; a backend only moves rows (`backend/`).
//! - Locks the system releases when the holder dies: an OS file lock beside a file, a
//!   session advisory lock on PostgreSQL.
//! - The file is created with mode 0600.
//! - Values marked secret (`{"$secret": v}` anywhere in a JSON value) are encrypted with
//!   XChaCha20-Poly1305 before they are written, under a key derived from a passphrase
//!   (Argon2id) or read from a key file. A wrong key is an error, never garbage.
//! - Loading a stack runs an integrity check; a state that fails it is refused.
//! - The schema is versioned (`PRAGMA user_version`; the `meta` row `schema.version` on
//!   PostgreSQL) and migrated forward on open; a state from a newer version is refused
//!   without being touched.
//!
//! The schema is documented in `STATE.md` beside this crate.

// Errors carry the file, stack and holder they name so that messages are complete; they
// are returned rarely, so their size costs nothing that matters.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]
// Rows read from SQLite are tuples of their columns; naming each tuple would add nothing.
#![allow(clippy::type_complexity)]

mod backend;
mod error;
mod json;
mod location;
mod lock;
pub mod order;
mod records;
mod schema;
mod secrets;
mod store;

pub use error::StateError;
pub use location::{Location, PostgresUrl, redact_url};
pub use lock::{LockInfo, StackLock};
pub use records::{
    DeploymentId, DeploymentKind, DeploymentRecord, DeploymentResult, Intent, IntentId,
    JournalStep, NewIntent, Operation, ResourceOptionsRecord, ResourceRecord, ResourceStatus,
    StackId, StackState, StackSummary, StepCounts, StepOutcome,
};
pub use schema::SCHEMA_VERSION;
pub use secrets::{SecretsKey, write_key_file};
pub use store::{OpenOptions, StateStore};

/// JSON values as stored.
pub type Value = serde_json::Value;

/// Marker key: a JSON object `{"$secret": <value>}` anywhere inside inputs or outputs
/// means "this value is secret". The store encrypts it on write and restores it on read.
pub const SECRET_KEY: &str = "$secret";

/// Marker key of an encrypted secret as it sits in the file: `{"$ciphertext": "<base64>"}`.
pub const CIPHERTEXT_KEY: &str = "$ciphertext";
