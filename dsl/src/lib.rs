//! `iac-dsl`: describe cloud infrastructure as typed Rust, then preview and deploy it.
//!
//! A stack author declares resources on a [`Stack`] with typed argument builders from a
//! provider crate; every [`Output`] used as another resource's [`Input`] becomes a graph
//! edge. The engine compares the declared graph with the recorded state (`iac-state`),
//! computes a plan without calling any cloud API, and carries it out through the
//! [`Provider`] interface, journaling every mutating step so that a crash loses nothing.
//!
//! Invariants: this crate never calls a cloud API itself (providers do), never opens SQLite
//! directly (`iac-state` does), and only its `cli` module prints.

// Errors carry the file, stack and holder they name so that messages are complete; they
// are returned rarely, so their size costs nothing that matters.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod apply;
pub mod asset;
pub mod cli;
pub mod engine;
pub mod graph;
mod journal;
pub mod output;
pub mod plan;
pub mod provider;
pub mod resource;
pub mod stack;
pub mod testing;
pub mod value;
pub mod walk;

pub use apply::{ApplyReport, Event, EventSink, StepReport, StepStatus, notice};
pub use engine::{Deployment, EngineError, RunOptions};
pub use output::{Input, Output};
pub use plan::{Op, Plan, PlanError, PlanErrors, PlanOptions, PropertyDiff, Step};
pub use provider::{
    CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse, ErrorKind,
    InvokeRequest, LookupRequest, Provider, ProviderError, ReadRequest, ReadResponse,
    ResourceContext, UpdateRequest, UpdateResponse,
};
pub use resource::{
    CustomTimeouts, DataSourceArgs, Expr, FieldErrors, Handle, IntoProp, Props, ResourceArgs,
    ResourceOptions, ResourceRef, StackCheck,
};
pub use stack::{DeclarationError, DeclarationErrors, ProviderRef, Stack, StackId};
pub use value::Value;
