//! Every comparison scenario under jemalloc (`tikv-jemallocator`).
//! Run: `cargo bench --bench jemalloc` (add `-- hot_path` for one group).

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let mut c = tierpool_compare::criterion();
    tierpool_compare::register_all(&mut c, "jemalloc");
    c.final_summary();
}
