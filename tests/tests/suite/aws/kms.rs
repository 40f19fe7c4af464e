//! kms against the emulator.
