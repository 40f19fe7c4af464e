//! iam against the emulator.
