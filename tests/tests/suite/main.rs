//! The integration suite: one test binary (so the AWS SDK is linked once) whose modules
//! test the providers and the stack against the moto emulator, and the payment function
//! against moto and a real PostgreSQL (both started by the test support).

mod aws;
mod cli;
mod docs;
mod emulator;
mod lambda_fn;
mod lost_answers;
mod pg;
mod pg_state;
