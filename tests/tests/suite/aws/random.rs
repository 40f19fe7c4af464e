//! random against the emulator.
