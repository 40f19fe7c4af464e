//! sns against the emulator.
