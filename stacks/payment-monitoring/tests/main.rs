//! The monitoring stack's integration tests, in one binary: the DR stack and then the
//! monitoring stack deployed through their binaries against moto (`e2e`).

mod e2e;
