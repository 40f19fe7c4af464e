//! Throwaway PostgreSQL servers: the `iac-test-pg` crate (`tests/pg`), re-exported so that
//! the suite keeps using `iac_tests::PgServer`. It is a crate of its own so that the state
//! store's tests (`state/tests`) can start servers without depending on this suite.

pub use iac_test_pg::*;
