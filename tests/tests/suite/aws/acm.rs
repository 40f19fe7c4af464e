//! acm against the emulator.
