//! Registered (fixed) pooled buffers against the same buffers unregistered,
//! with `O_DIRECT` I/O through io_uring at queue depth 32.
//!
//! ```sh
//! cargo run --release --features io-uring --example io_uring_fixed
//! cargo run --release --features io-uring --example io_uring_fixed -- \
//!     --path /data/tierpool.dat --size-mib 4096 --seconds 30
//! ```
//!
//! Creates a file (`--size-mib`, 256 MiB by default, in the system's temp
//! directory unless `--path` names one; removed at the end), then, for 4 KiB
//! and 64 KiB reads and writes at random aligned offsets, runs the two arms
//! in alternating slices: `ReadFixed`/`WriteFixed` naming the buffers'
//! registered regions, and `Read`/`Write` on the same buffers. It prints one
//! line per case:
//!
//! `io_uring op=read size=4096 qd=32 fixed_iops=.. plain_iops=.. iops_ratio=.. cpu_ratio=..`
//!
//! Ratios are fixed / plain; CPU per I/O is the process's user and system
//! time (getrusage) over the I/Os of an arm. `--seconds` is the time of
//! each case, both arms together (3 by default: some 15 s in all).
//! Diagnostics go to standard error. Linux, feature `io-uring`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use io_uring::{opcode, types, IoUring};
use tierpool::uring::Fixed;
use tierpool::{Backing, Pool, PooledBuf, RegionConfig};

const QD: usize = 32;
const SIZES: [usize; 2] = [4096, 64 << 10];
/// Slices per arm: the arms alternate this many times.
const SLICES: u32 = 6;

struct Args {
    path: PathBuf,
    size: u64,
    seconds: f64,
}

fn args() -> Args {
    let mut args = Args {
        path: std::env::temp_dir().join(format!("tierpool-io_uring-{}.dat", std::process::id())),
        size: 256 << 20,
        seconds: 3.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--path" => args.path = value().into(),
            "--size-mib" => args.size = value().parse::<u64>().expect("--size-mib N") << 20,
            "--seconds" => args.seconds = value().parse().expect("--seconds S"),
            _ => panic!("unknown argument {arg}; see the example's docs"),
        }
    }
    args
}

/// The test file, removed on drop.
struct TestFile {
    path: PathBuf,
    fd: i32,
    size: u64,
}

impl TestFile {
    fn create(path: PathBuf, size: u64) -> io::Result<TestFile> {
        use std::io::Write;
        let started = Instant::now();
        let mut file = std::fs::File::create(&path)?;
        let mut chunk = vec![0u8; 1 << 20];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..size.div_ceil(1 << 20) {
            for word in chunk.chunks_exact_mut(8) {
                word.copy_from_slice(&rng.next().to_le_bytes());
            }
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
        drop(file);
        let c_path = CString::new(path.as_os_str().as_bytes()).expect("no NUL in the path");
        // SAFETY: a NUL-terminated path; the flags open an existing file.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDWR | libc::O_DIRECT) };
        let file = TestFile { path, fd, size };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!(
                    "opening {} with O_DIRECT failed ({err}); is it on tmpfs? Pass --path on a disk",
                    file.path.display()
                ),
            ));
        }
        // SAFETY: advice on our own descriptor: drop the file's cached pages.
        unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
        eprintln!(
            "# {} MiB at {} in {:.2} s",
            size >> 20,
            file.path.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(file)
    }
}

impl Drop for TestFile {
    fn drop(&mut self) {
        if self.fd >= 0 {
            // SAFETY: the descriptor is ours and closed once.
            unsafe { libc::close(self.fd) };
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// User and system CPU time of the process, io_uring's workers included.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` fills the zeroed `rusage` it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Read,
    Write,
}

/// What one arm did: I/Os, wall time and CPU time.
#[derive(Default)]
struct Tally {
    ios: u64,
    wall: Duration,
    cpu: Duration,
}

/// Runs one arm for `time` at queue depth [`QD`], adding to `tally`.
fn run(
    ring: &mut IoUring,
    file: &TestFile,
    bufs: &mut [(PooledBuf, u16)],
    (op, size, fixed): (Op, usize, bool),
    time: Duration,
    rng: &mut Rng,
    tally: &mut Tally,
) {
    let blocks = file.size / size as u64;
    let mut free: Vec<usize> = (0..bufs.len()).collect();
    let mut in_flight = 0;
    let (started, cpu) = (Instant::now(), cpu_time());
    let deadline = started + time;
    loop {
        while Instant::now() < deadline && in_flight < QD {
            let slot = free.pop().expect("a free buffer per slot of the queue");
            let (buf, index) = &mut bufs[slot];
            let ptr = buf.as_mut_ptr();
            let offset = rng.next() % blocks * size as u64;
            let fd = types::Fd(file.fd);
            let len = size as u32;
            let entry = match (op, fixed) {
                (Op::Read, true) => opcode::ReadFixed::new(fd, ptr, len, *index)
                    .offset(offset)
                    .build(),
                (Op::Read, false) => opcode::Read::new(fd, ptr, len).offset(offset).build(),
                (Op::Write, true) => opcode::WriteFixed::new(fd, ptr, len, *index)
                    .offset(offset)
                    .build(),
                (Op::Write, false) => opcode::Write::new(fd, ptr, len).offset(offset).build(),
            }
            .user_data(slot as u64);
            // SAFETY: the buffer lives in `bufs`, untouched until its
            // completion is reaped below (every I/O is, before returning).
            unsafe { ring.submission().push(&entry) }.expect("the queue has room");
            in_flight += 1;
        }
        if in_flight == 0 {
            break;
        }
        ring.submit_and_wait(1).expect("io_uring_enter");
        for cqe in ring.completion() {
            let res = cqe.result();
            assert!(
                res == size as i32,
                "I/O of {size} bytes returned {res}: {}",
                io::Error::from_raw_os_error(-res)
            );
            free.push(cqe.user_data() as usize);
            in_flight -= 1;
            tally.ios += 1;
        }
    }
    tally.wall += started.elapsed();
    tally.cpu += cpu_time() - cpu;
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args();
    let mut ring = match IoUring::new(2 * QD as u32) {
        Ok(ring) => ring,
        Err(err) => {
            eprintln!("# skipped: io_uring_setup refused ({err})");
            return Ok(());
        }
    };
    let region = 2 << 20;
    let pool = Pool::builder()
        .tiers(SIZES)
        .alignment(4096) // O_DIRECT
        .backing(Backing::Regions(RegionConfig::new().size(region)))
        .build()?;
    for size in SIZES {
        pool.map_regions(size, 1)?;
    }
    let registration = pool.register_regions(&ring.submitter())?;
    eprintln!("# registered {registration:?}");
    let file = TestFile::create(args.path, args.size)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let slice = Duration::from_secs_f64(args.seconds / f64::from(2 * SLICES));
    for op in [Op::Read, Op::Write] {
        for size in SIZES {
            let mut bufs: Vec<(PooledBuf, u16)> = (0..QD)
                .map(|i| {
                    let mut buf = pool.get(size);
                    buf.resize(size, i as u8);
                    let fixed = buf.fixed();
                    match fixed {
                        Fixed::Registered {
                            buf_index, addr, ..
                        } if addr == buf.as_ptr() => (buf, buf_index),
                        _ => panic!("a pooled buffer is not registered: {fixed:?}"),
                    }
                })
                .collect();
            let case = |fixed| (op, size, fixed);
            // Warm-up, then the arms in alternating slices.
            let mut warm = Tally::default();
            run(
                &mut ring,
                &file,
                &mut bufs,
                case(true),
                slice / 4,
                &mut rng,
                &mut warm,
            );
            run(
                &mut ring,
                &file,
                &mut bufs,
                case(false),
                slice / 4,
                &mut rng,
                &mut warm,
            );
            let (mut fixed, mut plain) = (Tally::default(), Tally::default());
            for _ in 0..SLICES {
                run(
                    &mut ring,
                    &file,
                    &mut bufs,
                    case(true),
                    slice,
                    &mut rng,
                    &mut fixed,
                );
                run(
                    &mut ring,
                    &file,
                    &mut bufs,
                    case(false),
                    slice,
                    &mut rng,
                    &mut plain,
                );
            }
            let iops = |t: &Tally| t.ios as f64 / t.wall.as_secs_f64();
            let cpu_per_io = |t: &Tally| t.cpu.as_secs_f64() / t.ios as f64;
            println!(
                "io_uring op={} size={size} qd={QD} fixed_iops={:.0} plain_iops={:.0} iops_ratio={:.3} cpu_ratio={:.3}",
                if op == Op::Read { "read" } else { "write" },
                iops(&fixed),
                iops(&plain),
                iops(&fixed) / iops(&plain),
                cpu_per_io(&fixed) / cpu_per_io(&plain),
            );
            eprintln!(
                "# cpu per I/O: fixed {:.2} us, plain {:.2} us",
                cpu_per_io(&fixed) * 1e6,
                cpu_per_io(&plain) * 1e6
            );
        }
    }
    drop(file);
    // Unregister before the registration (and the pool) go.
    ring.submitter().unregister_buffers()?;
    drop(registration);
    Ok(())
}
