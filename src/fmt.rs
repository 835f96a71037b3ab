//! Display helpers shared by the stats table, the advisor's reports and the
//! buffers' `Debug` output.

use std::fmt;
use std::ops::{Bound, RangeBounds};

/// How many leading bytes a buffer's `Debug` output shows.
const PREVIEW_BYTES: usize = 32;

/// Formats a byte count with a binary unit (`4 KiB`, `1.5 MiB`).
pub(crate) struct ByteSize(pub(crate) u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        let text = if value.fract() == 0.0 {
            format!("{value} {}", UNITS[unit])
        } else {
            format!("{value:.1} {}", UNITS[unit])
        };
        f.pad(&text)
    }
}

/// Shows at most [`PREVIEW_BYTES`] bytes as an escaped byte string, escaped
/// exactly as `bytes` escapes `Bytes` (`\0`, `\n`, `\r`, `\t`, `\\`,
/// `\"`, printable ASCII as is, `\xNN` otherwise).
pub(crate) struct Preview<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(PREVIEW_BYTES)];
        f.write_str("b\"")?;
        for &byte in shown {
            match byte {
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\t' => f.write_str("\\t")?,
                b'\\' | b'"' => write!(f, "\\{}", byte as char)?,
                b'\0' => f.write_str("\\0")?,
                0x20..0x7f => write!(f, "{}", byte as char)?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        f.write_str("\"")?;
        if self.0.len() > shown.len() {
            write!(f, "... ({} more)", self.0.len() - shown.len())?;
        }
        Ok(())
    }
}

/// Prints a `RangeBounds` the way it was written (`2..9`, `..=4`, `3..`).
pub(crate) struct RangeDisplay<'a, R>(pub(crate) &'a R);

impl<R: RangeBounds<usize>> fmt::Display for RangeDisplay<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.start_bound() {
            Bound::Included(n) => write!(f, "{n}")?,
            Bound::Excluded(n) => write!(f, "(excluded {n})")?,
            Bound::Unbounded => {}
        }
        match self.0.end_bound() {
            Bound::Included(n) => write!(f, "..={n}"),
            Bound::Excluded(n) => write!(f, "..{n}"),
            Bound::Unbounded => f.write_str(".."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_read_naturally() {
        assert_eq!(ByteSize(4096).to_string(), "4 KiB");
        assert_eq!(ByteSize(1 << 20).to_string(), "1 MiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(10).to_string(), "10 B");
    }

    #[test]
    fn previews_stop_after_32_bytes() {
        let bytes = [b'a'; 40];
        assert_eq!(
            format!("{:?}", Preview(&bytes)),
            format!("b\"{}\"... (8 more)", "a".repeat(32))
        );
        assert_eq!(format!("{:?}", Preview(b"\n")), "b\"\\n\"");
    }

    /// The escapes of `bytes`' own `Debug` (its `tests/test_debug.rs`),
    /// 32 bytes at a time.
    #[test]
    fn previews_escape_as_bytes_does() {
        let all: Vec<u8> = (0..=255).collect();
        let shown: String = all
            .chunks(PREVIEW_BYTES)
            .map(|chunk| {
                let text = format!("{:?}", Preview(chunk));
                text["b\"".len()..text.len() - 1].to_owned()
            })
            .collect();
        let expected = bytes_debug(&all);
        assert_eq!(shown, expected["b\"".len()..expected.len() - 1]);
        assert_eq!(format!("{:?}", Preview(b"\0'")), r#"b"\0'""#);
    }

    fn bytes_debug(b: &[u8]) -> String {
        format!("{:?}", bytes::Bytes::copy_from_slice(b))
    }
}
