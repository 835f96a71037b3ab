//! Region backing: slots freed and taken on two threads, and io_uring
//! registration racing the last block of a region.

use super::*;

/// Two threads free blocks of one region while a third allocates: with
/// no thread cache and no depot every return frees its block, so each
/// drop gives a slot back to the region (under the regions' lock) while
/// the third thread's miss takes one: a slot just given back, dirty (the
/// newest first) or purged because the dirty bytes exceed their bound of
/// one slot (its shadow cell then checks that the old holder's accesses
/// happen before the new one's, through that lock), or, when both are
/// still out, a second region. Two more blocks taken afterwards get two
/// different slots. A trim purges every dirty slot, and then every slot is
/// free and every region is gone (loom's leak check fails on a region
/// that is never given back).
#[test]
fn region_slots_freed_while_another_thread_allocates() {
    run_model("region_slots_freed_while_another_thread_allocates", || {
        let pool = tiny_builder(0, 0)
            .backing(crate::Backing::Regions(
                crate::RegionConfig::new()
                    .size(2 * TIER)
                    .max_dirty_bytes(TIER),
            ))
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let report = pool.backing_report();
        assert_eq!(report.regions.len(), 1, "two slots to a region");
        assert_eq!(report.regions[0].slots_in_use, 2);
        let free_a = thread::spawn(move || {
            stamp_a.check_buf(&a);
            drop(a);
        });
        let free_b = thread::spawn(move || {
            stamp_b.check_buf(&b);
            drop(b);
        });
        let taker = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (c, stamp) = get_filled(&pool, &shadows, 3);
                let report = pool.backing_report();
                assert!(
                    report.regions.iter().any(|r| r.contains(c.as_ptr())),
                    "a block outside every region: {report:?}"
                );
                stamp.check_buf(&c);
            })
        };
        free_a.join().unwrap();
        free_b.join().unwrap();
        taker.join().unwrap();
        assert_settled(&pool, &shadows, 3);
        let (d, stamp_d) = get_filled(&pool, &shadows, 4);
        let (e, stamp_e) = get_filled(&pool, &shadows, 5);
        assert_ne!(d.as_ptr(), e.as_ptr(), "two blocks share a slot");
        stamp_d.check_buf(&d);
        stamp_e.check_buf(&e);
        drop((d, e));
        pool.trim();
        let report = pool.backing_report();
        assert_eq!(report.dirty_bytes, 0, "a trim purges every dirty slot");
        assert_eq!(report.mapped_bytes, 0, "every slot is free: {report:?}");
    });
}

/// A registration with io_uring races the drop of the last block of the
/// pool's only region, and then a new block is taken. The registrar takes
/// the table of regions (`pin_table`), the system call would run, and it
/// records which regions the ring now names (`record_registration`).
/// Whichever way they interleave, a region the registrar put in its table
/// is still mapped at the same place when it records the registration
/// (were it unmapped in between, its index could go to a new region the
/// ring does not know), and stays mapped afterwards; a block taken after a
/// registration lies in a registered region and reports its index, or, if
/// the region went before the registrar looked, reports that the pool was
/// never registered. Freed slots are purged at once (no dirty bytes), so
/// the freed last block empties its region.
#[cfg(all(feature = "io-uring", target_os = "linux"))]
#[test]
fn registration_races_the_last_block_of_a_region() {
    use crate::uring::{Fixed, Unregistered};

    run_model("registration_races_the_last_block_of_a_region", || {
        let pool = tiny_builder(0, 0)
            .backing(crate::Backing::Regions(
                crate::RegionConfig::new().size(2 * TIER).max_dirty_bytes(0),
            ))
            .build()
            .expect("a valid configuration");
        let last = pool.get(TIER);
        let registrar = {
            let pool = pool.clone();
            thread::spawn(move || {
                let regions = pool.shared().regions.as_ref().expect("region-backed");
                let table = regions.pin_table();
                match crate::uring::fixed::iovecs(&table, 0) {
                    Ok((_, indices, _)) => regions.record_registration(Some(&indices)),
                    Err(_) => regions.record_registration(None),
                }
                table
                    .iter()
                    .map(|entry| entry.map(|(start, len)| (start.as_ptr().addr(), len)))
                    .collect::<Vec<_>>()
            })
        };
        let freer = thread::spawn(move || drop(last));
        let table = registrar.join().unwrap();
        freer.join().unwrap();

        let report = pool.backing_report();
        for (index, entry) in table.iter().enumerate() {
            let Some((start, len)) = *entry else { continue };
            assert!(
                report
                    .regions
                    .iter()
                    .any(|r| r.index == index && r.start == start && r.len == len),
                "registered region {index} was unmapped: {report:?}"
            );
        }
        let next = pool.get(TIER);
        match (next.fixed(), table.is_empty()) {
            (
                Fixed::Registered {
                    buf_index, addr, ..
                },
                false,
            ) => {
                let (start, len) = table[usize::from(buf_index)].expect("a registered index");
                assert!(
                    (start..start + len).contains(&addr.addr()),
                    "block {addr:?} outside registered region {buf_index}"
                );
            }
            (Fixed::Unregistered(Unregistered::NotRegistered), true) => {}
            (fixed, _) => panic!("after registering {table:?}: {fixed:?}"),
        }
    });
}
