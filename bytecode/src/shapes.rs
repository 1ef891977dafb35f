//! Programs shaped as compilers lay them out, for the oracles: the precision cases of clang's
//! output (issue 16) with random parameters, each either proven by construction or one step
//! past what is proven (an unsafe input exists). The checking interpreter must pass every
//! accepted one on every input, and a planted verifier bug in the mechanisms these shapes need
//! (join symbols, 32-bit relations, equal-number narrowing, loop layouts) must show up here.
//!
//! - [`ShapeFamily::JoinNames`]: two paths bound two different offsets against the length
//!   (`x + k1 <= len`, `y + k2 <= len`, with 64- or 32-bit arithmetic and comparisons), then
//!   meet and read through the joined offset.
//! - [`ShapeFamily::LoopLayout`]: a counted walk over a fixed-size object, laid out bottom-tested,
//!   rotated (a jump down to the test), or entered in the middle (irreducible), counted with
//!   `jlt`, `jne` or a 32-bit `jlt32`.
//! - [`ShapeFamily::SumBound`]: a TLV option: `opt + optlen <= len`, then `optlen` pinned (`==`,
//!   or a lower bound), then a read at `opt`.
//! - [`ShapeFamily::CopyBound`]: a byte copied (masked, zero-extended, or masked lossily), the copy
//!   bounded, the original used as the index.

use alloc::format;
use alloc::string::String;

use crate::rng::Rng;
use crate::{Program, ProgramType, assemble};

/// The families of compiler-shaped programs [`shaped`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeFamily {
    /// Differently named offsets joined.
    JoinNames,
    /// Loops in clang's layouts.
    LoopLayout,
    /// Bounds through a copy.
    CopyBound,
    /// A bound on a sum, then one part pinned: a bound on the other part.
    SumBound,
}

impl ShapeFamily {
    /// Every family.
    pub const ALL: [ShapeFamily; 4] = [
        ShapeFamily::JoinNames,
        ShapeFamily::LoopLayout,
        ShapeFamily::CopyBound,
        ShapeFamily::SumBound,
    ];
}

/// A generated program.
#[derive(Clone, Debug)]
pub struct Shaped {
    /// The program.
    pub program: Program,
    /// Its assembler text.
    pub text: String,
    /// Its type.
    pub ty: ProgramType,
    /// The object size (`size` programs).
    pub ctx_size: Option<u32>,
    /// Safe by construction on every input (`false`: some input reads out of bounds).
    pub proven: bool,
}

/// One program of family `kind`.
pub fn shaped(rng: &mut Rng, kind: ShapeFamily) -> Shaped {
    let (text, ty, ctx_size, proven) = match kind {
        ShapeFamily::JoinNames => join_names(rng),
        ShapeFamily::LoopLayout => loop_layout(rng),
        ShapeFamily::CopyBound => copy_bound(rng),
        ShapeFamily::SumBound => sum_bound(rng),
    };
    let program = match assemble(&text) {
        Ok(p) => p,
        // The templates are fixed; a failure here is a bug in this file.
        Err(e) => panic!("shapes: {e:?}\n{text}"),
    };
    Shaped { program, text, ty, ctx_size, proven }
}

fn size_suffix(n: u32) -> &'static str {
    match n {
        1 => "b",
        2 => "h",
        4 => "w",
        _ => "dw",
    }
}

fn join_names(rng: &mut Rng) -> (String, ProgramType, Option<u32>, bool) {
    let n = rng.pick(&[1u32, 2, 4, 8]);
    let k1 = n + rng.below(20) as u32;
    let k2 = n + rng.below(20) as u32;
    let lo = k1.min(k2);
    // Proven: the read ends within both bounds; else within the larger one only.
    let proven = rng.chance(2, 3) || k1 == k2;
    let end = if proven {
        n + rng.below((lo - n + 1) as u64) as u32
    } else {
        lo + 1 + rng.below((k1.max(k2) - lo) as u64) as u32
    };
    let a = end - n;
    let w32 = rng.chance(1, 3);
    let (add, jgt) = if w32 { ("add32", "jgt32") } else { ("add", "jgt") };
    let mask = rng.pick(&["", "and %r3, 63\n", "and %r4, 0x7f\n"]);
    let cond = rng.pick(&["jeq %r3, 0, other", "jset %r4, 1, other", "jgt %r3, 9, other"]);
    // Sometimes the second path's offset is a constant, sometimes the first path joins with
    // the length itself.
    let other = match rng.below(3) {
        0 => format!("mov %r5, %r4\n{add} %r5, {k2}\n{jgt} %r5, %r2, out\nmov %r6, %r4"),
        1 => {
            let c = rng.below(24) as u32;
            format!("mov %r6, {c}\nmov %r5, {}\njgt %r5, %r2, out", c + k2)
        }
        _ => format!("mov %r6, %r4\nadd %r6, {k2}\njgt %r6, %r2, out\nsub %r6, {k2}"),
    };
    let text = format!(
        "mov %r0, 0
        jlt %r2, 2, out
        ldxb %r3, [%r1]
        ldxb %r4, [%r1+1]
        {mask}
        {cond}
        mov %r5, %r3
        {add} %r5, {k1}
        {jgt} %r5, %r2, out
        mov %r6, %r3
        ja join
    other:
        {other}
    join:
        mov %r7, %r1
        add %r7, %r6
        ldx{} %r0, [%r7+{a}]
    out:
        exit",
        size_suffix(n)
    );
    (text, ProgramType::Filter, None, proven)
}

fn loop_layout(rng: &mut Rng) -> (String, ProgramType, Option<u32>, bool) {
    let n = rng.pick(&[1u32, 2, 4]);
    let stride = rng.pick(&[1u32, 2, 4]);
    let iters = 2 + rng.below(10) as u32;
    let a = rng.below(4) as u32;
    let need = (iters - 1) * stride + a + n;
    let proven = rng.chance(2, 3);
    let size = if proven { need + rng.below(3) as u32 } else { need - 1 };
    // The counted test: leaves when the counter reaches `iters`.
    let test = match rng.below(3) {
        0 => format!("jlt %r3, {iters}, body"),
        1 => format!("jne %r3, {iters}, body"),
        _ => format!("jlt32 %r3, {iters}, body"),
    };
    let step = if test.starts_with("jlt32") { "add32 %r3, 1" } else { "add %r3, 1" };
    let read = format!(
        "mov %r5, %r3
        mul %r5, {stride}
        mov %r6, %r1
        add %r6, %r5
        ldx{} %r7, [%r6+{a}]
        add %r0, %r7",
        size_suffix(n)
    );
    let text = match rng.below(3) {
        // Bottom-tested: the body first, the test at the bottom.
        0 => format!("mov %r0, 0\nmov %r3, 0\nbody:\n{read}\n{step}\n{test}\nexit"),
        // Rotated: a jump down to the test placed below the body.
        1 => format!("mov %r0, 0\nmov %r3, 0\nja test\nbody:\n{read}\n{step}\ntest:\n{test}\nexit"),
        // Irreducible: a side entry into the middle of the body on an input byte.
        _ => format!(
            "mov %r0, 0\nmov %r3, 0\nldxb %r4, [%r1]\njeq %r4, 7, mid\nbody:\n{read}\nmid:\nmov %r8, %r3\nand %r8, 1\nadd %r0, %r8\n{step}\n{test}\nexit"
        ),
    };
    // The irreducible layout reads only from the second iteration when entered at `mid`: the
    // bound is the same, since the last read is at `iters - 1`.
    (text, ProgramType::Size, Some(size.max(1)), proven && size >= 1)
}

fn copy_bound(rng: &mut Rng) -> (String, ProgramType, Option<u32>, bool) {
    let n = rng.pick(&[1u32, 2, 4]);
    let a = rng.below(4) as u32;
    let b = 8 + rng.below(40) as u32;
    // The copy: lossless (keeps every bit of a byte) or lossy (drops the high bits).
    let (copy, lossless) = match rng.below(4) {
        0 => ("and %r5, 0xff", true),
        1 => ("mov32 %r5, %r5", true),
        2 => ("and32 %r5, 0xffff", true),
        _ => ("and %r5, 0x3f", false),
    };
    let cmp = rng.pick(&["jgt %r5, {b}, out", "jgt32 %r5, {b}, out", "jge %r5, {b1}, out"]);
    let cmp = cmp.replace("{b}", &format!("{b}")).replace("{b1}", &format!("{}", b + 1));
    // The original's greatest value where the read happens.
    let top = if lossless { b } else { 255 };
    let need = top + a + n;
    let proven = rng.chance(2, 3);
    let size = if proven {
        need + rng.below(3) as u32
    } else {
        // Past the copy's bound but short of the original's: unsafe when the copy lost bits.
        // (a lossy copy: any size below 192 + a + n, where 192 passes the test and reads past)
        if lossless { need - 1 } else { b + a + n + rng.below((192 - b) as u64) as u32 }
    };
    let text = format!(
        "mov %r0, 0
        ldxb %r4, [%r1]
        mov %r5, %r4
        {copy}
        {cmp}
        mov %r6, %r1
        add %r6, %r4
        ldx{} %r0, [%r6+{a}]
    out:
        exit",
        size_suffix(n)
    );
    (text, ProgramType::Size, Some(size), proven)
}

fn sum_bound(rng: &mut Rng) -> (String, ProgramType, Option<u32>, bool) {
    let n = rng.pick(&[1u32, 2, 4, 8]);
    let a = rng.below(4) as u32;
    let pin = 1 + rng.below(12) as u32;
    // `optlen == pin` or `optlen >= pin`: either way `opt + pin <= len` follows.
    let test = if rng.chance(1, 2) {
        format!("jne %r4, {pin}, out")
    } else {
        format!("jlt %r4, {pin}, out")
    };
    let proven = rng.chance(2, 3);
    let end = if proven { n.max(a + n).min(pin.max(n)) } else { pin + 1 + rng.below(3) as u32 };
    // The read `[opt + a, opt + a + n)` within `opt + pin`.
    let (a, n) = if proven {
        if a + n <= pin { (a, n) } else { (0, if n <= pin { n } else { 1 }) }
    } else {
        let n = n.min(end);
        (end - n, n)
    };
    let proven = proven && a + n <= pin;
    let _ = end;
    let (x, y) = if rng.chance(1, 2) { ("%r3", "%r4") } else { ("%r4", "%r3") };
    let text = format!(
        "mov %r0, 0
        jlt %r2, 2, out
        ldxb %r3, [%r1]
        ldxb %r4, [%r1+1]
        mov %r5, {x}
        add %r5, {y}
        jgt %r5, %r2, out
        {test}
        mov %r6, %r1
        add %r6, %r3
        ldx{} %r0, [%r6+{a}]
    out:
        exit",
        size_suffix(n)
    );
    (text, ProgramType::Filter, None, proven)
}
