//! Opcode bit fields of RFC 9669 and the raw 8-byte instruction word.

/// Instruction class: bits 0-2 of the opcode.
pub mod class {
    /// Non-standard loads (`lddw`, `LD_ABS`, `LD_IND`).
    pub const LD: u8 = 0x00;
    /// Loads into a register.
    pub const LDX: u8 = 0x01;
    /// Stores of an immediate.
    pub const ST: u8 = 0x02;
    /// Stores of a register, and atomics.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// Source bit of ALU and jump opcodes.
pub const SRC_X: u8 = 0x08;

/// Size field of load/store opcodes (bits 3-4).
pub mod size {
    /// 4 bytes.
    pub const W: u8 = 0x00;
    /// 2 bytes.
    pub const H: u8 = 0x08;
    /// 1 byte.
    pub const B: u8 = 0x10;
    /// 8 bytes.
    pub const DW: u8 = 0x18;
}

/// Mode field of load/store opcodes (bits 5-7).
pub mod mode {
    /// 64-bit immediate.
    pub const IMM: u8 = 0x00;
    /// Legacy absolute packet load.
    pub const ABS: u8 = 0x20;
    /// Legacy indirect packet load.
    pub const IND: u8 = 0x40;
    /// Regular memory access.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load.
    pub const MEMSX: u8 = 0x80;
    /// Atomic operation.
    pub const ATOMIC: u8 = 0xc0;
}

/// Operation codes of the `imm` field of atomic instructions.
pub mod atomic {
    /// Add.
    pub const ADD: i32 = 0x00;
    /// Or.
    pub const OR: i32 = 0x40;
    /// And.
    pub const AND: i32 = 0x50;
    /// Xor.
    pub const XOR: i32 = 0xa0;
    /// Flag: return the old value.
    pub const FETCH: i32 = 0x01;
    /// Exchange (includes FETCH).
    pub const XCHG: i32 = 0xe1;
    /// Compare and exchange (includes FETCH).
    pub const CMPXCHG: i32 = 0xf1;
}

/// `lddw` opcode (`LD | IMM | DW`).
pub const LDDW: u8 = 0x18;
/// `call` opcode (`JMP | CALL | K`).
pub const CALL: u8 = 0x85;
/// `callx` opcode (`JMP | CALL | X`).
pub const CALLX: u8 = 0x8d;
/// `exit` opcode.
pub const EXIT: u8 = 0x95;
/// `ja` opcode.
pub const JA: u8 = 0x05;
/// `ja32` opcode (`JMP32 | JA`).
pub const JA32: u8 = 0x06;

/// The fields of one 8-byte instruction slot, as stored little-endian:
/// `opcode:8 | dst:4 | src:4 | off:16 | imm:32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RawInsn {
    /// Opcode byte.
    pub opcode: u8,
    /// Destination register field (low nibble of byte 1).
    pub dst: u8,
    /// Source register field (high nibble of byte 1).
    pub src: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl RawInsn {
    /// Splits 8 little-endian bytes into fields.
    pub const fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Joins the fields into 8 little-endian bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The slot as the little-endian 64-bit word the conformance suite writes (`0x...18`).
    pub const fn to_word(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    /// From a little-endian 64-bit word.
    pub const fn from_word(w: u64) -> RawInsn {
        RawInsn::from_bytes(w.to_le_bytes())
    }
}
