//! The instruction set as typed data: one [`Insn`] per RFC 9669 instruction.
//!
//! Every value of [`Insn`] is a valid instruction and encodes to exactly one bit pattern
//! ([`crate::encode`]); every bit pattern the decoder accepts comes from exactly one `Insn`
//! ([`crate::decode`]). Fields the encoding leaves free are not represented, so "reserved
//! field not zero" cannot be expressed here: the decoder refuses it.

use core::fmt;

/// A register, `r0` to `r10` (`r10` is the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(u8);

impl Reg {
    /// Return value and helper result.
    pub const R0: Reg = Reg(0);
    /// First argument; on entry, the context pointer.
    pub const R1: Reg = Reg(1);
    /// Second argument; on entry, the context length.
    pub const R2: Reg = Reg(2);
    /// Third argument; on entry to a `filter`, the length on the wire.
    pub const R3: Reg = Reg(3);
    /// Fourth argument.
    pub const R4: Reg = Reg(4);
    /// Fifth argument.
    pub const R5: Reg = Reg(5);
    /// Callee-saved.
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// Callee-saved.
    pub const R8: Reg = Reg(8);
    /// Callee-saved.
    pub const R9: Reg = Reg(9);
    /// Frame pointer (read-only).
    pub const R10: Reg = Reg(10);
    /// Number of architectural registers.
    pub const COUNT: usize = 11;

    /// The register numbered `n`, if `n <= 10`.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 { Some(Reg(n)) } else { None }
    }

    /// Its number, 0 to 10.
    pub const fn num(self) -> u8 {
        self.0
    }

    /// Its number as an index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// All eleven registers in order.
    pub fn all() -> impl Iterator<Item = Reg> {
        (0..=10).map(Reg)
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%r{}", self.0)
    }
}

/// Operand width of ALU and jump instructions: the `ALU`/`JMP32` classes work on the low 32
/// bits, `ALU64`/`JMP` on all 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit (class `ALU` or `JMP32`); ALU results are zero-extended.
    W32,
    /// 64-bit (class `ALU64` or `JMP`).
    W64,
}

/// Memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// Mnemonic suffix: `b`, `h`, `w`, `dw`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Size::B => "b",
            Size::H => "h",
            Size::W => "w",
            Size::DW => "dw",
        }
    }
}

/// Second operand of ALU, jump and store instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A register (`BPF_X`).
    Reg(Reg),
    /// The 32-bit immediate (`BPF_K`); how it is extended depends on the operation.
    Imm(i32),
}

/// Binary ALU operations (NEG and END have their own [`Insn`] variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `dst += src`
    Add,
    /// `dst -= src`
    Sub,
    /// `dst *= src`
    Mul,
    /// unsigned `dst /= src`; division by zero gives 0
    Div,
    /// signed `dst /= src` (offset 1); by zero gives 0, `MIN / -1` gives `MIN`
    SDiv,
    /// `dst |= src`
    Or,
    /// `dst &= src`
    And,
    /// `dst <<= src` (shift amount masked to the width)
    Lsh,
    /// logical `dst >>= src`
    Rsh,
    /// unsigned `dst %= src`; modulo by zero leaves `dst`
    Mod,
    /// signed `dst %= src` (offset 1); sign follows the dividend
    SMod,
    /// `dst ^= src`
    Xor,
    /// `dst = src`
    Mov,
    /// `dst = sign_extend_8(src)` (register form only, offset 8)
    MovSx8,
    /// `dst = sign_extend_16(src)` (register form only, offset 16)
    MovSx16,
    /// `dst = sign_extend_32(src)` (64-bit register form only, offset 32)
    MovSx32,
    /// arithmetic `dst >>= src`
    Arsh,
}

impl AluOp {
    /// Mnemonic without width suffix.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            AluOp::Add => "add",
            AluOp::Sub => "sub",
            AluOp::Mul => "mul",
            AluOp::Div => "div",
            AluOp::SDiv => "sdiv",
            AluOp::Or => "or",
            AluOp::And => "and",
            AluOp::Lsh => "lsh",
            AluOp::Rsh => "rsh",
            AluOp::Mod => "mod",
            AluOp::SMod => "smod",
            AluOp::Xor => "xor",
            AluOp::Mov => "mov",
            AluOp::MovSx8 => "movsx8",
            AluOp::MovSx16 => "movsx16",
            AluOp::MovSx32 => "movsx32",
            AluOp::Arsh => "arsh",
        }
    }

    /// Every binary ALU operation.
    pub const ALL: [AluOp; 17] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::MovSx8,
        AluOp::MovSx16,
        AluOp::MovSx32,
        AluOp::Arsh,
    ];

    /// True for the sign-extending moves, which exist only in register form.
    pub const fn is_movsx(self) -> bool {
        matches!(self, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32)
    }

    /// Whether `(width, source)` is an encodable combination for this operation.
    pub const fn valid_with(self, width: Width, src_is_reg: bool) -> bool {
        match self {
            AluOp::MovSx8 | AluOp::MovSx16 => src_is_reg,
            AluOp::MovSx32 => src_is_reg && matches!(width, Width::W64),
            _ => true,
        }
    }
}

/// Byte-order operations (`BPF_END`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// `le16/32/64`: to little-endian (truncates to the width on a little-endian machine).
    Le,
    /// `be16/32/64`: to big-endian.
    Be,
    /// `bswap16/32/64` (class `ALU64`): unconditional byte swap.
    Swap,
}

/// Width of a byte-order operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwapBits {
    /// 16 bits.
    B16,
    /// 32 bits.
    B32,
    /// 64 bits.
    B64,
}

impl SwapBits {
    /// 16, 32 or 64.
    pub const fn bits(self) -> u32 {
        match self {
            SwapBits::B16 => 16,
            SwapBits::B32 => 32,
            SwapBits::B64 => 64,
        }
    }
    /// From 16, 32 or 64.
    pub const fn from_bits(n: i64) -> Option<SwapBits> {
        match n {
            16 => Some(SwapBits::B16),
            32 => Some(SwapBits::B32),
            64 => Some(SwapBits::B64),
            _ => None,
        }
    }
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `==`
    Eq,
    /// unsigned `>`
    Gt,
    /// unsigned `>=`
    Ge,
    /// `dst & src != 0`
    Set,
    /// `!=`
    Ne,
    /// signed `>`
    Sgt,
    /// signed `>=`
    Sge,
    /// unsigned `<`
    Lt,
    /// unsigned `<=`
    Le,
    /// signed `<`
    Slt,
    /// signed `<=`
    Sle,
}

/// `a COND b` for operands of one width, `$i` its signed type (one body for both widths).
macro_rules! compare {
    ($cond:expr, $a:expr, $b:expr, $i:ty) => {
        match $cond {
            JmpCond::Eq => $a == $b,
            JmpCond::Gt => $a > $b,
            JmpCond::Ge => $a >= $b,
            JmpCond::Set => $a & $b != 0,
            JmpCond::Ne => $a != $b,
            JmpCond::Sgt => ($a as $i) > ($b as $i),
            JmpCond::Sge => ($a as $i) >= ($b as $i),
            JmpCond::Lt => $a < $b,
            JmpCond::Le => $a <= $b,
            JmpCond::Slt => ($a as $i) < ($b as $i),
            JmpCond::Sle => ($a as $i) <= ($b as $i),
        }
    };
}

impl JmpCond {
    /// Every condition.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];

    /// Mnemonic without width suffix.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            JmpCond::Eq => "jeq",
            JmpCond::Gt => "jgt",
            JmpCond::Ge => "jge",
            JmpCond::Set => "jset",
            JmpCond::Ne => "jne",
            JmpCond::Sgt => "jsgt",
            JmpCond::Sge => "jsge",
            JmpCond::Lt => "jlt",
            JmpCond::Le => "jle",
            JmpCond::Slt => "jslt",
            JmpCond::Sle => "jsle",
        }
    }

    /// Evaluates the condition on 64-bit operands.
    #[inline(always)]
    pub const fn eval64(self, a: u64, b: u64) -> bool {
        compare!(self, a, b, i64)
    }

    /// Evaluates the condition on the low 32 bits of each operand.
    #[inline(always)]
    pub const fn eval32(self, a: u64, b: u64) -> bool {
        let (a, b) = (a as u32, b as u32);
        compare!(self, a, b, i32)
    }

    /// The condition that holds exactly when this one does not.
    pub const fn negate(self) -> JmpCond {
        match self {
            JmpCond::Eq => JmpCond::Ne,
            JmpCond::Ne => JmpCond::Eq,
            JmpCond::Gt => JmpCond::Le,
            JmpCond::Le => JmpCond::Gt,
            JmpCond::Ge => JmpCond::Lt,
            JmpCond::Lt => JmpCond::Ge,
            JmpCond::Sgt => JmpCond::Sle,
            JmpCond::Sle => JmpCond::Sgt,
            JmpCond::Sge => JmpCond::Slt,
            JmpCond::Slt => JmpCond::Sge,
            // `jset` has no encodable negation; callers branch on the other edge instead.
            JmpCond::Set => JmpCond::Set,
        }
    }
}

/// Atomic read-modify-write operations (class `STX`, mode `ATOMIC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `*addr += src`
    Add,
    /// `*addr |= src`
    Or,
    /// `*addr &= src`
    And,
    /// `*addr ^= src`
    Xor,
    /// `src = xchg(addr, src)` (always fetches)
    Xchg,
    /// `r0 = cmpxchg(addr, r0, src)` (always fetches)
    CmpXchg,
}

impl AtomicOp {
    /// Mnemonic without width suffix.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            AtomicOp::Add => "add",
            AtomicOp::Or => "or",
            AtomicOp::And => "and",
            AtomicOp::Xor => "xor",
            AtomicOp::Xchg => "xchg",
            AtomicOp::CmpXchg => "cmpxchg",
        }
    }
    /// True for `xchg` and `cmpxchg`, whose encoding always carries the fetch flag.
    pub const fn always_fetches(self) -> bool {
        matches!(self, AtomicOp::Xchg | AtomicOp::CmpXchg)
    }
}

/// The `src` variants of a 64-bit immediate load other than the plain constant
/// (RFC 9669 §5.4). udfkit has no maps or BTF: these decode, print and assemble, and the
/// engines refuse them before a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LddwPseudo {
    /// src 1: `dst = map_by_fd(imm)`.
    MapFd,
    /// src 2: `dst = map_val(map_by_fd(imm)) + next_imm`.
    MapValue,
    /// src 3: `dst = var_addr(imm)`.
    VarAddr,
    /// src 4: `dst = code_addr(imm)`.
    CodeAddr,
    /// src 5: `dst = map_by_idx(imm)`.
    MapIdx,
    /// src 6: `dst = map_val(map_by_idx(imm)) + next_imm`.
    MapIdxValue,
}

impl LddwPseudo {
    /// Every variant.
    pub const ALL: [LddwPseudo; 6] = [
        LddwPseudo::MapFd,
        LddwPseudo::MapValue,
        LddwPseudo::VarAddr,
        LddwPseudo::CodeAddr,
        LddwPseudo::MapIdx,
        LddwPseudo::MapIdxValue,
    ];
    /// The `src` field value.
    pub const fn src(self) -> u8 {
        match self {
            LddwPseudo::MapFd => 1,
            LddwPseudo::MapValue => 2,
            LddwPseudo::VarAddr => 3,
            LddwPseudo::CodeAddr => 4,
            LddwPseudo::MapIdx => 5,
            LddwPseudo::MapIdxValue => 6,
        }
    }
    /// From the `src` field value.
    pub const fn from_src(src: u8) -> Option<LddwPseudo> {
        match src {
            1 => Some(LddwPseudo::MapFd),
            2 => Some(LddwPseudo::MapValue),
            3 => Some(LddwPseudo::VarAddr),
            4 => Some(LddwPseudo::CodeAddr),
            5 => Some(LddwPseudo::MapIdx),
            6 => Some(LddwPseudo::MapIdxValue),
            _ => None,
        }
    }
    /// Assembler keyword.
    pub const fn keyword(self) -> &'static str {
        match self {
            LddwPseudo::MapFd => "map_fd",
            LddwPseudo::MapValue => "map_value",
            LddwPseudo::VarAddr => "var_addr",
            LddwPseudo::CodeAddr => "code_addr",
            LddwPseudo::MapIdx => "map_idx",
            LddwPseudo::MapIdxValue => "map_idx_value",
        }
    }
    /// Whether the second slot's immediate is meaningful (else it must be zero).
    pub const fn uses_next_imm(self) -> bool {
        matches!(self, LddwPseudo::MapValue | LddwPseudo::MapIdxValue)
    }
}

/// One instruction. `LoadImm64` and `LoadPseudo` occupy two 8-byte slots, all others one.
///
/// Jump and call offsets are relative, in slots, from the slot after the instruction, exactly
/// as encoded; [`crate::Program`] resolves and checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// Binary ALU operation.
    Alu {
        /// 32 or 64 bit.
        width: Width,
        /// Operation.
        op: AluOp,
        /// Destination (and first operand).
        dst: Reg,
        /// Second operand.
        src: Source,
    },
    /// `dst = -dst`.
    Neg {
        /// 32 or 64 bit.
        width: Width,
        /// Operand.
        dst: Reg,
    },
    /// Byte-order conversion.
    End {
        /// Conversion.
        kind: Endian,
        /// Width.
        bits: SwapBits,
        /// Operand.
        dst: Reg,
    },
    /// `dst = imm64` (two slots).
    LoadImm64 {
        /// Destination.
        dst: Reg,
        /// The constant.
        imm: u64,
    },
    /// `lddw` with a pseudo source: map, variable or code address (two slots).
    LoadPseudo {
        /// Destination.
        dst: Reg,
        /// What `imm` names.
        kind: LddwPseudo,
        /// First-slot immediate.
        imm: i32,
        /// Second-slot immediate (zero unless [`LddwPseudo::uses_next_imm`]).
        next_imm: i32,
    },
    /// `dst = *(size *)(base + off)`, zero- or sign-extended.
    Load {
        /// Access size.
        size: Size,
        /// Sign-extend (mode `MEMSX`; not for `DW`).
        signed: bool,
        /// Destination.
        dst: Reg,
        /// Address register.
        base: Reg,
        /// Signed offset.
        off: i16,
    },
    /// `*(size *)(base + off) = src` (`ST` for an immediate, `STX` for a register).
    Store {
        /// Access size.
        size: Size,
        /// Address register.
        base: Reg,
        /// Signed offset.
        off: i16,
        /// Value stored; an immediate is sign-extended to 64 bits, then truncated.
        src: Source,
    },
    /// Atomic read-modify-write on `*(size *)(base + off)` (size `W` or `DW`).
    Atomic {
        /// `W` or `DW`.
        size: Size,
        /// Operation.
        op: AtomicOp,
        /// Whether the old value is returned in `src` (always for xchg/cmpxchg).
        fetch: bool,
        /// Address register.
        base: Reg,
        /// Signed offset.
        off: i16,
        /// Operand register (receives the old value when fetching).
        src: Reg,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)(packet + imm))` (size `B`, `H`, `W`).
    LoadAbs {
        /// Access size.
        size: Size,
        /// Offset into the packet.
        imm: i32,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)(packet + (u32)src + imm))`.
    LoadInd {
        /// Access size.
        size: Size,
        /// Index register.
        src: Reg,
        /// Offset.
        imm: i32,
    },
    /// `goto +off` (16-bit offset, class `JMP`).
    Ja {
        /// Relative target.
        off: i16,
    },
    /// `goto +imm` (32-bit offset, class `JMP32`).
    Ja32 {
        /// Relative target.
        imm: i32,
    },
    /// `if dst COND src goto +off`.
    Jump {
        /// Compare 32 or 64 bits.
        width: Width,
        /// Condition.
        cond: JmpCond,
        /// First operand.
        dst: Reg,
        /// Second operand.
        src: Source,
        /// Relative target.
        off: i16,
    },
    /// Call helper `imm`.
    Call {
        /// Helper id.
        imm: i32,
    },
    /// Call the local function at relative slot `imm`.
    CallLocal {
        /// Relative target.
        imm: i32,
    },
    /// Call a kernel function by BTF id (src 2); refused by udfkit's engines.
    CallKfunc {
        /// BTF id.
        imm: i32,
    },
    /// Call the helper whose id is in `reg` (`callx`).
    CallReg {
        /// Register holding the helper id.
        reg: Reg,
    },
    /// Return `r0` from the current function.
    Exit,
}

impl Insn {
    /// Number of 8-byte slots the instruction occupies.
    pub const fn slots(&self) -> usize {
        match self {
            Insn::LoadImm64 { .. } | Insn::LoadPseudo { .. } => 2,
            _ => 1,
        }
    }

    /// Relative jump offset (from the next slot) for jumps and local calls.
    pub const fn branch_offset(&self) -> Option<i64> {
        match *self {
            Insn::Ja { off } | Insn::Jump { off, .. } => Some(off as i64),
            Insn::Ja32 { imm } | Insn::CallLocal { imm } => Some(imm as i64),
            _ => None,
        }
    }

    /// True when control never falls through to the next slot.
    pub const fn is_terminator(&self) -> bool {
        matches!(self, Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::Exit)
    }

    /// True when control may go elsewhere than the next slot: a jump, a local call or `exit`
    /// (a helper call returns to the next slot).
    pub const fn transfers_control(&self) -> bool {
        self.branch_offset().is_some() || matches!(self, Insn::Exit)
    }
}
