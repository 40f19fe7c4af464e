//! The surface stack authors write against: the [`stack::Stack`] they declare on, typed
//! resource arguments and options ([`resource`]), references between resources
//! ([`output`]), other stacks' outputs ([`reference`]), the JSON values with secret and unknown markers the engine passes
//! around ([`value`]), and files deployed as code ([`asset`]). Declaring is pure: nothing
//! here calls a provider or opens state.

pub mod asset;
pub mod output;
pub mod reference;
pub mod resource;
pub mod stack;
pub mod value;
