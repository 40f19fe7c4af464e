//! secretsmanager against the emulator.
