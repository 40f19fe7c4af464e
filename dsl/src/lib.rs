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

pub mod author;
pub mod checks;
pub mod cli;
pub mod engine;
pub mod pictures;
pub mod provider;
pub mod testing;

// The parts keep their paths at the crate root (`iac_dsl::plan`, `iac_dsl::stack`, ...):
// the folders are for readers of this crate, not a change for its users.
pub use author::{asset, output, reference, resource, stack, value};
pub use checks::{cost, policy};
pub(crate) use engine::journal;
pub use engine::{apply, graph, plan, walk};

pub use apply::{ApplyReport, Event, EventSink, StepReport, StepStatus, notice};
pub use cost::{CostModel, CostReport};
pub use engine::{Deployment, EngineError, RunOptions};
pub use output::{Input, Output};
pub use plan::{
    Drift, DriftKind, Op, Plan, PlanError, PlanErrors, PlanOptions, PropertyDiff, Step,
};
pub use policy::{Level, Policy, PolicyReport, Violation, Waiver};
pub use provider::{
    CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse, ErrorKind,
    InvokeRequest, LookupRequest, Provider, ProviderError, ReadRequest, ReadResponse,
    ResourceContext, SharedReads, UpdateRequest, UpdateResponse,
};
pub use reference::{StackReference, StateLocation};
pub use resource::{
    CustomTimeouts, DataSourceArgs, Expr, FieldErrors, Handle, IntoProp, Props, RegionFields,
    ResourceArgs, ResourceOptions, ResourceRef, StackCheck,
};
pub use stack::{DeclarationError, DeclarationErrors, ProviderRef, Stack, StackId};
pub use value::Value;
