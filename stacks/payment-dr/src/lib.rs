//! `payment-dr-stack`: the two-region payment-processing disaster-recovery topology.
//!
//! So far this crate holds the stack's validated configuration ([`config`]); the topology
//! itself is built on the providers as they land.

pub mod config;
