//! Every comparison scenario under the system allocator (glibc malloc on
//! Linux). Run: `cargo bench --bench sys` (add `-- hot_path` for one group).

fn main() {
    let mut c = tierpool_compare::criterion();
    tierpool_compare::register_all(&mut c, "sys");
    c.final_summary();
}
