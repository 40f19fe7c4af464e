//! Provider tests against the emulator, one module per service.

mod support;
mod vpc;
