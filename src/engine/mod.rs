//! The engine: one pool's state and the machinery that moves blocks
//! between the callers, the thread caches and the depots.
//!
//! Read it top-down: [`state`] holds the pool's state and policy (what a
//! hand-out charges and what a return releases); [`router`] picks a tier;
//! [`thread_cache`] and [`local_table`] are the per-thread caches and the
//! thread-local table that finds them; [`depot`] is the bounded global
//! stack behind them; [`block`] is the storage itself, with the header
//! every buffer and view points at; [`outstanding`] follows blocks out for
//! leak reports; [`quota_account`] is what a quota counts; [`config`] is
//! the validated configuration the state is built from.
//!
//! One knot is inherent here: a block points at its pool's state, and the
//! last [`BlockRef`](block::BlockRef) dropped hands the block back through
//! [`PoolState::recycle`](state::PoolState::recycle), so `block` and
//! `state` name each other, and the caches that `state` drives take blocks
//! and give them back through both. Nothing below this folder (memory,
//! stats, sync) names anything in it, and nothing in it names a buffer
//! type or the public `Pool` handle.

pub(crate) mod block;
pub(crate) mod config;
pub(crate) mod depot;
pub(crate) mod local_table;
pub(crate) mod outstanding;
pub(crate) mod quota_account;
pub(crate) mod router;
pub(crate) mod state;
pub(crate) mod thread_cache;
