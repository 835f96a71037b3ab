//! The real holders and what can be observed of them.

use super::*;

/// A real object that keeps (part of) a storage alive.
#[derive(Debug)]
pub(super) enum Real {
    Buf(PooledBuf),
    View(SharedBuf),
    Bytes(Bytes),
    Chain(PooledChain),
    Frozen(SharedChain),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Buf,
    View,
    Bytes,
    /// A `PooledChain`.
    Chain,
    /// A `SharedChain`.
    Frozen,
}

/// Every kind of holder.
pub(super) const ALL_KINDS: [Kind; 5] = [
    Kind::Buf,
    Kind::View,
    Kind::Bytes,
    Kind::Chain,
    Kind::Frozen,
];

impl Real {
    pub(super) fn kind(&self) -> Kind {
        match self {
            Real::Buf(_) => Kind::Buf,
            Real::View(_) => Kind::View,
            Real::Bytes(_) => Kind::Bytes,
            Real::Chain(_) => Kind::Chain,
            Real::Frozen(_) => Kind::Frozen,
        }
    }
}

/// What the checks look at, taken on whichever thread holds the object.
#[derive(Debug)]
pub(super) struct Seen {
    pub(super) kind: Kind,
    pub(super) addr: usize,
    /// `capacity()` for a buffer, `len()` otherwise.
    pub(super) cap: usize,
    pub(super) contents: Vec<u8>,
    /// `tier()` for buffers and views.
    pub(super) tier: Option<Option<usize>>,
    /// For chains.
    pub(super) chain: Option<ChainSeen>,
}

/// What can be observed of a chain. A `PooledChain` shows no bytes, so
/// its contents and segments are empty here (checked once it is frozen).
#[derive(Debug)]
pub(super) struct ChainSeen {
    pub(super) len: usize,
    pub(super) segment_count: usize,
    pub(super) spare: usize,
    /// A `SharedChain`'s segments: address, length, `tier()`.
    pub(super) segments: Vec<(usize, usize, Option<usize>)>,
}

pub(super) fn observe(real: &Real) -> Seen {
    match real {
        Real::Buf(b) => Seen {
            kind: Kind::Buf,
            addr: b.as_ptr() as usize,
            cap: b.capacity(),
            contents: b.to_vec(),
            tier: Some(b.tier()),
            chain: None,
        },
        Real::View(v) => Seen {
            kind: Kind::View,
            addr: v.as_ptr() as usize,
            cap: v.len(),
            contents: v.to_vec(),
            tier: Some(v.tier()),
            chain: None,
        },
        Real::Bytes(b) => Seen {
            kind: Kind::Bytes,
            addr: b.as_ptr() as usize,
            cap: b.len(),
            contents: b.to_vec(),
            tier: None,
            chain: None,
        },
        Real::Chain(c) => Seen {
            kind: Kind::Chain,
            addr: 0,
            cap: c.spare_capacity(),
            contents: Vec::new(),
            tier: None,
            chain: Some(ChainSeen {
                len: c.len(),
                segment_count: c.segment_count(),
                spare: c.spare_capacity(),
                segments: Vec::new(),
            }),
        },
        Real::Frozen(c) => Seen {
            kind: Kind::Frozen,
            addr: c.chunk().as_ptr() as usize,
            cap: c.len(),
            contents: c.to_vec(),
            tier: None,
            chain: Some(ChainSeen {
                len: c.len(),
                segment_count: c.segment_count(),
                spare: 0,
                segments: c
                    .segments()
                    .map(|s| (s.as_ptr() as usize, s.len(), s.tier()))
                    .collect(),
            }),
        },
    }
}
