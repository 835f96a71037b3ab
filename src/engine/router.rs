//! Constant-time routing of a requested capacity to its tier.
//!
//! `get` must find the smallest tier that holds `capacity` bytes. Scanning
//! the tiers costs a compare per tier passed over; instead, a table indexed
//! by the bit length of `capacity - 1` gives the first tier that can hold
//! any request of that length, and one compare (rarely a few, when several
//! tiers share a power of two) settles it.

/// Bit lengths of `capacity - 1`: 0 to 64 on 64-bit targets.
const LENGTHS: usize = usize::BITS as usize + 1;

/// Maps a requested capacity to the index of the smallest tier that fits.
#[derive(Debug)]
pub(crate) struct Router {
    /// Tier capacities, ascending and distinct.
    capacities: Box<[usize]>,
    /// For each bit length `b` of `capacity - 1`, the first tier whose
    /// capacity is at least `2^(b-1) + 1` (the smallest request of that
    /// length); `capacities.len()` when there is none.
    first: [u32; LENGTHS],
}

impl Router {
    /// A router for `capacities`, which must be ascending, distinct and
    /// fewer than `u32::MAX` (the pool's configuration checks the first two).
    pub(crate) fn new(capacities: Box<[usize]>) -> Self {
        debug_assert!(capacities.windows(2).all(|w| w[0] < w[1]));
        let tier_count = u32::try_from(capacities.len()).expect("fewer than 2^32 tiers");
        let mut first = [tier_count; LENGTHS];
        for (length, first) in first.iter_mut().enumerate() {
            // The smallest request whose `capacity - 1` has this bit length.
            let smallest = match length {
                0 => 0,
                _ => (1usize << (length - 1)).saturating_add(1),
            };
            if let Some(tier) = capacities.iter().position(|&c| c >= smallest) {
                *first = tier as u32;
            }
        }
        Self { capacities, first }
    }

    /// The index of the smallest tier that holds `capacity` bytes, or `None`
    /// if it is above the largest tier.
    #[inline(always)]
    pub(crate) fn route(&self, capacity: usize) -> Option<usize> {
        let length = (usize::BITS - capacity.saturating_sub(1).leading_zeros()) as usize;
        let mut tier = self.first[length] as usize;
        loop {
            match self.capacities.get(tier) {
                Some(&tier_capacity) if capacity <= tier_capacity => return Some(tier),
                Some(_) => tier += 1,
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(capacities: &[usize], capacity: usize) -> Option<usize> {
        capacities.iter().position(|&c| capacity <= c)
    }

    /// Every tier boundary (n - 1, n, n + 1), powers of two around them and
    /// the extremes route as a linear scan would.
    #[test]
    fn matches_a_linear_scan() {
        let sets: &[&[usize]] = &[
            &[4 << 10, 64 << 10, 1 << 20],
            &[1],
            &[1, 2, 3, 4, 5],
            &[100, 200, 300, 5000, 5001, 6000, 7000, 8192, 8193],
            &[3 << 10, 5 << 10, 6 << 10, 7 << 10, 1 << 30],
            &[usize::MAX / 2, usize::MAX],
        ];
        for &capacities in sets {
            let router = Router::new(capacities.into());
            let mut probes = vec![0, 1, 2, usize::MAX - 1, usize::MAX];
            for &c in capacities {
                probes.extend([c - 1, c, c.saturating_add(1)]);
            }
            for shift in 0..usize::BITS {
                let p = 1usize << shift;
                probes.extend([p - 1, p, p.saturating_add(1)]);
            }
            for capacity in probes {
                assert_eq!(
                    router.route(capacity),
                    linear(capacities, capacity),
                    "capacity {capacity} with tiers {capacities:?}"
                );
            }
        }
    }
}
