//! `iac-providers`: typed resources for the `iac-dsl` engine and their create, read,
//! update, delete and lookup, on the official AWS SDK for Rust (module [`aws`]) and for
//! values generated locally (module [`random`]).
//!
//! Each resource type has an argument builder (setters take `impl Into<Input<T>>`), a
//! handle with typed output accessors, validation that reports every invalid field before
//! any request, and an implementation of its lifecycle behind the engine's
//! [`iac_dsl::Provider`] interface. Providers never print, never touch state and never
//! decide order: the engine does.

/// Declares a resource's handle: a newtype over [`iac_dsl::ResourceRef`] that `Stack::add`
/// returns, with one typed accessor per listed output field.
macro_rules! handle {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name(iac_dsl::ResourceRef);

        impl From<iac_dsl::ResourceRef> for $name {
            fn from(r: iac_dsl::ResourceRef) -> Self {
                $name(r)
            }
        }

        impl AsRef<iac_dsl::ResourceRef> for $name {
            fn as_ref(&self) -> &iac_dsl::ResourceRef {
                &self.0
            }
        }

        impl $name {
            $(
                $(#[$fmeta])*
                pub fn $field(&self) -> iac_dsl::Output<$ty> {
                    self.0.output(stringify!($field))
                }
            )*
        }
    };
}

pub mod aws;
pub mod cidr;
pub mod random;
pub mod validate;
