//! Engine specifications: the lifecycle of resources through `up`, written against the
//! fake provider and a real SQLite state file.

mod checks;
mod compose;
mod crash;
mod faults;
mod lifecycle;
mod ordering;
mod support;
