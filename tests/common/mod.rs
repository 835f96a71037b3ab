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

/// Helpers for the segmented-buffer tests (`tests/chain.rs`, `tests/io.rs`).
pub mod chains {
    use tierpool::{Pool, SharedChain};

    /// A small tier (for the last block of a message), the segment tier and
    /// a larger one: the default tiers, or tiny blocks under Miri so that
    /// every path runs in seconds.
    pub const TIERS: [usize; 3] = if cfg!(miri) {
        [16, 64, 1024]
    } else {
        [4 << 10, 64 << 10, 1 << 20]
    };
    pub const SMALL: usize = TIERS[0];
    pub const SEG: usize = TIERS[1];
    pub const LARGEST: usize = TIERS[2];
    // The tests write messages of up to eight segments and expect them in
    // segment blocks: below the largest tier, which long messages take.
    const _: () = assert!(LARGEST > 8 * SEG && SEG >= 4 * SMALL && SEG > 32);

    /// A pool of [`TIERS`] whose chains are made of [`SEG`] blocks.
    pub fn pool() -> Pool {
        Pool::builder()
            .tiers(TIERS)
            .segment_capacity(SEG)
            .build()
            .expect("a valid configuration")
    }

    /// Distinct, non-periodic bytes: a misplaced segment or offset shows.
    pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| {
                (i.wrapping_mul(0x9E37_79B9)
                    .wrapping_add(seed.wrapping_mul(0x85EB_CA6B))
                    >> 11) as u8
            })
            .collect()
    }

    /// The capacity of the smallest of `tiers` that holds `n` bytes.
    pub fn smallest_holding(tiers: &[usize], n: usize) -> usize {
        *tiers.iter().find(|&&t| n <= t).expect("within the tiers")
    }

    /// The capacity of the block a chain of `tiers` and segment capacity
    /// `segment` takes when `remaining` more bytes are expected (the rule
    /// `PooledChain::reserve_block` documents, which `put_slice` and
    /// `read_chain` follow): the largest tier, from the segment tier up,
    /// that they fill completely; below one segment, the smallest tier that
    /// holds them. The one place the tests state it.
    pub fn block_for(tiers: &[usize], segment: usize, remaining: usize) -> usize {
        if remaining < segment {
            return smallest_holding(tiers, remaining.max(1));
        }
        *tiers
            .iter()
            .rfind(|&&t| t >= segment && t <= remaining)
            .expect("the segment tier")
    }

    /// [`block_for`] in a [`pool`].
    pub fn block(remaining: usize) -> usize {
        block_for(&TIERS, SEG, remaining)
    }

    /// Segment lengths and tiers of `len` bytes written in one `put_slice`
    /// (or read by one `read_chain`) into a [`pool`] chain.
    pub fn one_write_layout(len: usize) -> (Vec<usize>, Vec<Option<usize>>) {
        pieces_layout([len])
    }

    /// Segment lengths and tiers of writes of `pieces` bytes, one
    /// `extend_from_slice` each: a block is taken only when the last one is
    /// full, sized by what remains of the piece being written.
    pub fn pieces_layout(
        pieces: impl IntoIterator<Item = usize>,
    ) -> (Vec<usize>, Vec<Option<usize>>) {
        let mut blocks: Vec<(usize, usize)> = Vec::new(); // (written, capacity)
        for mut n in pieces {
            while n > 0 {
                match blocks.last_mut() {
                    Some((written, cap)) if *written < *cap => {
                        let k = n.min(*cap - *written);
                        *written += k;
                        n -= k;
                    }
                    _ => blocks.push((0, block(n))),
                }
            }
        }
        blocks.iter().map(|&(len, cap)| (len, Some(cap))).unzip()
    }

    /// Segment lengths of `len` bytes written in whole-segment blocks
    /// (`chunk_mut`, `put_bytes`).
    pub fn whole_segment_lens(len: usize) -> Vec<usize> {
        let mut lens = vec![SEG; len / SEG];
        if len % SEG > 0 {
            lens.push(len % SEG);
        }
        lens
    }

    pub fn lens(chain: &SharedChain) -> Vec<usize> {
        chain.segments().map(|s| s.len()).collect()
    }

    pub fn tiers(chain: &SharedChain) -> Vec<Option<usize>> {
        chain.segments().map(|s| s.tier()).collect()
    }

    /// Checks that `chain` has the blocks one write of its length takes.
    #[track_caller]
    pub fn assert_one_write_layout(chain: &SharedChain) {
        let (want_lens, want_tiers) = one_write_layout(chain.len());
        assert_eq!(
            lens(chain),
            want_lens,
            "segment lengths of {} bytes",
            chain.len()
        );
        assert_eq!(
            tiers(chain),
            want_tiers,
            "segment tiers of {} bytes",
            chain.len()
        );
    }

    /// Gets counted per tier (hits + misses).
    pub fn gets(pool: &Pool) -> Vec<u64> {
        pool.stats()
            .tiers
            .iter()
            .map(|t| t.hits + t.misses)
            .collect()
    }

    /// Buffers in use per tier.
    pub fn in_use(pool: &Pool) -> Vec<u64> {
        pool.stats().tiers.iter().map(|t| t.in_use).collect()
    }

    /// A frozen chain of `bytes`, written with one `put_slice`.
    pub fn frozen(pool: &Pool, bytes: &[u8]) -> SharedChain {
        let mut chain = pool.chain();
        bytes::BufMut::put_slice(&mut chain, bytes);
        chain.freeze()
    }
}

/// Lowers this process's `RLIMIT_MEMLOCK` to `bytes` and leaves root,
/// whose `CAP_IPC_LOCK` ignores the limit: for a child process of a test
/// only. `false` if root cannot be left (a user namespace without a mapping
/// for `nobody`): the caller skips.
#[cfg(target_os = "linux")]
pub fn limit_memlock_as_nobody(bytes: usize) -> bool {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: plain system calls on this (child) process's own limits and
    // credentials; `limit` is a valid `rlimit`.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit), 0);
        !(libc::geteuid() == 0 && (libc::setgid(65534) != 0 || libc::setuid(65534) != 0))
    }
}

/// The environment variable that tells a test binary's child which test
/// it runs for [`run_child_test`].
pub const CHILD_ENV: &str = "TIERPOOL_TEST_CHILD";

/// Runs the ignored test `name` of this test binary in a child process
/// (with [`CHILD_ENV`] set, which the test checks, returning at once
/// without it) and returns its standard output, asserting that it passed
/// and printed a line with `marker`: for tests that change the process's
/// limits or credentials, which would affect the other tests.
#[track_caller]
pub fn run_child_test(name: &str, marker: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(marker),
        "child {name} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Whether this process is the child [`run_child_test`] started for `name`.
pub fn is_child_test(name: &str) -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == name)
}

/// An io_uring ring, or `None` (with a message on standard error) where
/// the kernel refuses `io_uring_setup` (a seccomp filter, an old kernel,
/// `kernel.io_uring_disabled`): the tests that need one then return.
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub fn ring() -> Option<io_uring::IoUring> {
    match io_uring::IoUring::new(8) {
        Ok(ring) => Some(ring),
        Err(err) => {
            eprintln!("skipped: io_uring_setup refused: {err}");
            None
        }
    }
}

/// Descriptors beyond the connections' own that
/// [`raise_descriptor_limit`] leaves: the runtime, listeners, the harness.
#[cfg(unix)]
const SPARE_DESCRIPTORS: usize = 256;

#[cfg(unix)]
/// Raises this process's descriptor limit for `connections` socket pairs
/// (both ends in this process): the soft limit, and the hard one where
/// the process may. Returns how many pairs fit under the limit then in
/// force.
pub fn raise_descriptor_limit(connections: usize) -> usize {
    let wanted = (2 * connections + SPARE_DESCRIPTORS) as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid `rlimit` for the call to fill.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max.max(wanted),
        };
        // SAFETY: as above; raising the hard limit needs privileges, and
        // without them the call fails and changes nothing.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            let soft = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: as above; the soft limit may rise to the hard one.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) };
        }
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
    }
    let fit = (limit.rlim_cur as usize).saturating_sub(SPARE_DESCRIPTORS) / 2;
    fit.min(connections)
}
