//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use tierpool::Pool;

/// Asserts that every buffer of every tier, and every oversize allocation,
/// has come back to `pool`.
#[track_caller]
pub fn assert_all_returned(pool: &Pool) {
    let stats = pool.stats();
    for (i, tier) in stats.tiers.iter().enumerate() {
        assert_eq!(tier.in_use, 0, "tier {i} still has buffers out: {stats:?}");
    }
    assert_eq!(stats.oversize.in_use, 0, "oversize still out: {stats:?}");
    assert_eq!(stats.oversize.in_use_bytes, 0, "oversize bytes: {stats:?}");
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        String::from("<non-string panic>")
    }
}

/// A small deterministic xorshift generator (no `rand` dependency).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}
