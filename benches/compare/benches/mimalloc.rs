//! Every comparison scenario under mimalloc.
//! Run: `cargo bench --bench mimalloc` (add `-- hot_path` for one group).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut c = tierpool_compare::criterion();
    tierpool_compare::register_all(&mut c, "mimalloc");
    c.final_summary();
}
