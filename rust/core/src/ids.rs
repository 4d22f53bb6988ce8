//! Typed dense ids and the vectors they index.
//!
//! Components live in dense arrays indexed by typed ids (`EndpointId`,
//! `LinkDirId`, ...), not in pointer graphs: cache-friendly, trivially
//! deterministic to iterate, and the type system keeps a link id from
//! indexing the endpoint table.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// Declares a `u32` newtype id.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u32);

        impl $name {
            /// The id as an array index.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl From<usize> for $name {
            #[inline]
            fn from(i: usize) -> Self {
                debug_assert!(i <= u32::MAX as usize);
                Self(i as u32)
            }
        }

        impl From<$name> for usize {
            #[inline]
            fn from(id: $name) -> usize {
                id.index()
            }
        }
    };
}

typed_id!(
    /// An endpoint (accelerator, NIC, memory device) of the fabric.
    EndpointId
);
typed_id!(
    /// One direction of a physical link.
    LinkDirId
);
typed_id!(
    /// A message of the traffic, in the order the traffic lists them.
    MsgId
);

/// A vector indexed by a typed id `I`.
#[derive(Clone, Debug)]
pub struct IdVec<I, T> {
    raw: Vec<T>,
    _id: PhantomData<fn(I) -> I>,
}

impl<I, T> Default for IdVec<I, T> {
    fn default() -> Self {
        Self {
            raw: Vec::new(),
            _id: PhantomData,
        }
    }
}

impl<I: From<usize> + Into<usize> + Copy, T> IdVec<I, T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_vec(raw: Vec<T>) -> Self {
        Self {
            raw,
            _id: PhantomData,
        }
    }

    /// Appends `value` and returns its id.
    pub fn push(&mut self, value: T) -> I {
        self.raw.push(value);
        I::from(self.raw.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.raw.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.raw.iter_mut()
    }

    /// `(id, &value)` pairs in id order.
    pub fn iter_enumerated(&self) -> impl Iterator<Item = (I, &T)> {
        self.raw.iter().enumerate().map(|(i, v)| (I::from(i), v))
    }

    pub fn ids(&self) -> impl Iterator<Item = I> {
        (0..self.raw.len()).map(I::from)
    }

    pub fn as_slice(&self) -> &[T] {
        &self.raw
    }
}

impl<I: Into<usize>, T> Index<I> for IdVec<I, T> {
    type Output = T;
    #[inline]
    fn index(&self, id: I) -> &T {
        &self.raw[id.into()]
    }
}

impl<I: Into<usize>, T> IndexMut<I> for IdVec<I, T> {
    #[inline]
    fn index_mut(&mut self, id: I) -> &mut T {
        &mut self.raw[id.into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_returns_dense_ids() {
        let mut v: IdVec<EndpointId, &str> = IdVec::new();
        let a = v.push("a");
        let b = v.push("b");
        assert_eq!((a, b), (EndpointId(0), EndpointId(1)));
        assert_eq!(v[b], "b");
        let pairs: Vec<_> = v.iter_enumerated().map(|(i, s)| (i.0, *s)).collect();
        assert_eq!(pairs, vec![(0, "a"), (1, "b")]);
    }
}
