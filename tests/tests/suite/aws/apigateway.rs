//! apigateway against the emulator.
