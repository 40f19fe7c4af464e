//! rds against the emulator.
