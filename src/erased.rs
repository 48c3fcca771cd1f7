//! A value reached through a trait object, for code size only: the drop
//! glue of a type is compiled into every codegen unit that may drop it,
//! but behind `dyn` it is compiled once, where the object is made, and a
//! drop elsewhere is one indirect call (docs/benchmarks.md, steps 18 and
//! 22: a TLS connection's and an error's glue had been copied eight and
//! ten times). No protocol here.

use std::ops::{Deref, DerefMut};

/// Implemented by every `T`; `dyn Erased<T> + Send (+ Sync)` dereferences
/// to the `T` (the auto traits are the object type's, so that a `T` that is
/// not `Sync`, such as an exchange holding the caller's body reader, can
/// be erased too).
pub(crate) trait Erased<T> {
    fn get(&self) -> &T;
    fn get_mut(&mut self) -> &mut T;
}

impl<T> Erased<T> for T {
    fn get(&self) -> &T {
        self
    }
    fn get_mut(&mut self) -> &mut T {
        self
    }
}

/// The object types used, each with its `Deref`.
macro_rules! deref_erased {
    ($($bounds:tt)*) => {
        impl<T> Deref for dyn Erased<T> $($bounds)* {
            type Target = T;
            fn deref(&self) -> &T {
                self.get()
            }
        }

        impl<T> DerefMut for dyn Erased<T> $($bounds)* {
            fn deref_mut(&mut self) -> &mut T {
                self.get_mut()
            }
        }
    };
}

deref_erased!(+ Send + Sync);
deref_erased!(+ Send);
