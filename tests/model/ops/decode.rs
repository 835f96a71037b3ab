//! Decoding raw bytes (the fuzzer's input) into a scenario.

use super::*;

/// Reads bytes, yielding zeros once the input is used up.
pub(super) struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    pub(super) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(super) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(super) fn size(&mut self) -> Size {
        Size {
            class: self.u8(),
            delta: self.u8() as i8,
        }
    }
}

/// Decodes any byte string into a scenario: five bytes of configuration,
/// then one opcode byte per op followed by its parameters. An opcode byte
/// in [`CHAIN_OPCODES`] is a chain op; any other is taken modulo
/// [`OPCODES`].
pub fn decode(data: &[u8]) -> Scenario {
    let mut r = Reader { data };
    let tier_set = r.u8();
    let alignment = r.u8();
    let a = r.u8();
    let b = r.u8();
    let governance = r.u8();
    let config = Config {
        tier_set,
        alignment,
        limits: [
            (a & 7, a >> 5),
            ((a >> 3) & 3, b & 7),
            ((b >> 3) & 7, b >> 6),
        ],
        governance,
    };
    let mut ops = Vec::new();
    while !r.data.is_empty() && ops.len() < 256 {
        let code = r.u8();
        if CHAIN_OPCODES.contains(&code) {
            ops.push(decode_chain_op(code - CHAIN_OPCODES.start, &mut r));
            continue;
        }
        let op = match code % OPCODES {
            0 => Op::Get(r.size()),
            1 => Op::TryGet(r.size()),
            2 => Op::HelperGet(r.size()),
            3 => Op::Extend {
                h: r.u8(),
                len: r.u16() % 1024,
            },
            4 => Op::ExtendIter {
                h: r.u8(),
                len: r.u8(),
            },
            5 => Op::Fill {
                h: r.u8(),
                over: r.u8(),
            },
            6 => Op::Resize {
                h: r.u8(),
                len: r.u16() % 2048,
                val: r.u8(),
            },
            7 => Op::Poke {
                h: r.u8(),
                pos: r.u16(),
                val: r.u8(),
            },
            8 => Op::Truncate {
                h: r.u8(),
                len: r.u16(),
            },
            9 => Op::Clear { h: r.u8() },
            10 => Op::Freeze { h: r.u8() },
            11 => Op::BufSplitTo {
                h: r.u8(),
                at: r.u16(),
            },
            12 => Op::Clone { h: r.u8() },
            13 => Op::Slice {
                h: r.u8(),
                start: r.u16(),
                end: r.u16(),
            },
            14 => Op::ViewSplitTo {
                h: r.u8(),
                at: r.u16(),
            },
            15 => Op::ViewSplitOff {
                h: r.u8(),
                at: r.u16(),
            },
            16 => Op::Advance {
                h: r.u8(),
                n: r.u16(),
            },
            17 => Op::CopyToBytes {
                h: r.u8(),
                n: r.u16(),
            },
            18 => Op::IntoBytes { h: r.u8() },
            19 => Op::BytesClone { h: r.u8() },
            20 => Op::BytesSlice {
                h: r.u8(),
                start: r.u16(),
                end: r.u16(),
            },
            21 => Op::TryIntoMut { h: r.u8() },
            22 => Op::Drop { h: r.u8() },
            23 => Op::Trim,
            24 => Op::Send { h: r.u8() },
            25 => Op::HelperDrop { h: r.u8() },
            26 => Op::HelperReturn { h: r.u8() },
            27 => Op::DropOnNewThread { h: r.u8() },
            28 => Op::TrimIdle,
            29 => Op::Churn {
                size: r.size(),
                rounds: r.u8(),
            },
            30 => Op::ReadFrom {
                h: r.u8(),
                len: r.u16() % 2048,
            },
            _ => Op::ClosePool {
                helper_last: r.u8() & 1 == 1,
            },
        };
        ops.push(op);
    }
    Scenario { config, ops }
}

/// The op of opcode `CHAIN_OPCODES.start + index`: a chain op, or one
/// added after them.
pub(super) fn decode_chain_op(index: u8, r: &mut Reader<'_>) -> Op {
    match index {
        0 => Op::ChainWrite {
            h: r.u8(),
            len: r.u16(),
            how: r.u8(),
        },
        1 => Op::ChainReserve {
            h: r.u8(),
            additional: r.u16(),
        },
        2 => Op::ChainFreeze { h: r.u8() },
        3 => Op::ChainClone { h: r.u8() },
        4 => Op::ChainSlice {
            h: r.u8(),
            start: r.u16(),
            end: r.u16(),
        },
        5 => Op::ChainAdvance {
            h: r.u8(),
            n: r.u16(),
        },
        6 => Op::ChainCopyToBytes {
            h: r.u8(),
            n: r.u16(),
        },
        7 => Op::ChainIntoBytes { h: r.u8() },
        8 => Op::ChainIntoSegments { h: r.u8() },
        9 => Op::ChainFromView { h: r.u8() },
        10 => Op::TryReclaim {
            h: r.u8(),
            additional: r.u16(),
        },
        11 => Op::BufAdvance {
            h: r.u8(),
            n: r.u16(),
        },
        12 => Op::BufCopyToBytes {
            h: r.u8(),
            n: r.u16(),
        },
        13 => Op::BufSplitOff {
            h: r.u8(),
            at: r.u16(),
        },
        14 => Op::BufSplit { h: r.u8() },
        15 => Op::Unsplit {
            h: r.u8(),
            v: r.u8(),
        },
        16 => Op::ExtendFromWithin {
            h: r.u8(),
            start: r.u16(),
            end: r.u16(),
        },
        17 => Op::BufClone { h: r.u8() },
        18 => Op::IntoMut { h: r.u8() },
        19 => Op::SliceRef {
            h: r.u8(),
            start: r.u16(),
            end: r.u16(),
        },
        20 => Op::IntoVec { h: r.u8() },
        21 => Op::FmtWrite {
            h: r.u8(),
            len: r.u16() % 1024,
        },
        22 => Op::ExtendViews {
            h: r.u8(),
            v: r.u8(),
        },
        _ => Op::MapRegions {
            size: r.size(),
            count: r.u8(),
        },
    }
}
