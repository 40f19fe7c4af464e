//! lambda against the emulator.
