//! `iac-providers`: typed resources for the `iac-dsl` engine and their create, read,
//! update, delete and lookup, on the official AWS SDK for Rust (module [`aws`]) and for
//! values generated locally (module [`random`]).
//!
//! Each resource type has an argument builder (setters take `impl Into<Input<T>>`), a
//! handle with typed output accessors, validation that reports every invalid field before
//! any request, and an implementation of its lifecycle behind the engine's
//! [`iac_dsl::Provider`] interface. Providers never print, never touch state and never
//! decide order: the engine does.

pub mod aws;
pub mod cidr;
pub mod random;
pub mod validate;
