//! Where the bytes come from and how many may be taken: byte budgets
//! ([`budget`]) and region backing ([`region`]: mapped regions carved into
//! tier slots). Below the engine: nothing here knows of tiers' caches,
//! blocks or buffers.

pub(crate) mod budget;
pub(crate) mod region;
