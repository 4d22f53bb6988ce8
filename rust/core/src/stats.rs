//! Statistics kept per component: counters live on the components; this
//! module holds the shared histogram type and [`counters!`], which declares
//! a set of counters once.

/// Declares a struct of `u64` counters once: its fields (with their docs),
/// their names in declaration order, their docs and their values, so that a
/// result's export (the bindings' columns, Python's dtype and its docs)
/// follows from the declaration. Adding a counter is a line here and the
/// line that counts it.
///
/// ```
/// fabricsim_core::counters! {
///     /// What one thing counted.
///     pub struct Seen {
///         /// Apples seen.
///         apples,
///         pears,
///     }
/// }
/// let s = Seen { apples: 2, pears: 1 };
/// assert_eq!(Seen::NAMES, ["apples", "pears"]);
/// assert_eq!(Seen::DOCS[0], "Apples seen.");
/// assert_eq!(s.values(), vec![2, 1]);
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:literal])* $field:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: u64, )*
        }

        impl $name {
            /// The counters' names, in declaration order (the export columns).
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];
            /// Each counter's doc comment (its first line and the rest, trimmed).
            pub const DOCS: &'static [&'static str] = &[$( concat!($($doc, "\n",)* "").trim_ascii() ),*];

            /// The counters' values, in the order of [`Self::NAMES`].
            pub fn values(&self) -> Vec<u64> {
                vec![$(self.$field),*]
            }
        }
    };
}

/// A histogram with linear buckets of `width` each (a power of two, so that
/// bucketing is a shift: it runs every cycle); values past the last bucket
/// land in it. Samples carry a weight (a number of cycles), so skipping idle
/// cycles accounts them in one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub width: u64,
    shift: u32,
    pub counts: Vec<u64>,
}

/// Histograms are sized to at most this many buckets.
pub const MAX_BUCKETS: u64 = 64;

impl Histogram {
    /// A histogram covering `0..=max_value` in at most [`MAX_BUCKETS`] buckets.
    pub fn covering(max_value: u64) -> Self {
        let width = (max_value + 1)
            .div_ceil(MAX_BUCKETS)
            .max(1)
            .next_power_of_two();
        let shift = width.trailing_zeros();
        let buckets = ((max_value >> shift) + 1) as usize;
        Self {
            width,
            shift,
            counts: vec![0; buckets],
        }
    }

    #[inline]
    pub fn add(&mut self, value: u64, weight: u64) {
        let last = self.counts.len() - 1;
        let b = ((value >> self.shift) as usize).min(last);
        self.counts[b] += weight;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ranges_get_one_bucket_per_value() {
        let mut h = Histogram::covering(8);
        assert_eq!((h.width, h.counts.len()), (1, 9));
        h.add(3, 5);
        h.add(8, 1);
        assert_eq!(h.counts[3], 5);
        assert_eq!(h.total(), 6);
    }

    #[test]
    fn large_ranges_are_bucketed() {
        let mut h = Histogram::covering(1000);
        assert!(h.counts.len() as u64 <= MAX_BUCKETS);
        assert_eq!(h.width, 16);
        h.add(31, 1);
        assert_eq!(h.counts[1], 1);
        h.add(1000, 1);
        h.add(5000, 1);
        assert_eq!(*h.counts.last().unwrap(), 2);
        assert_eq!(h.total(), 3);
    }
}
