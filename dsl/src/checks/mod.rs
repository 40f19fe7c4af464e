//! Checks a plan gets before any request: policies over the declared resources and their
//! neighbours ([`policy`]), and the monthly cost of what the stack runs ([`cost`]).

pub mod cost;
pub mod policy;
