//! The compiler's limits on what a source may ask of it (docs/language.md, "Limits"). Every one
//! is refused with a located `udf::limit::*` diagnostic, so no input, however large or deep,
//! crashes the compiler or exhausts its memory. They are generous for real programs.

/// How deep the syntax tree may nest: brackets, blocks, `if`/`else if` chains, prefix operators,
/// `.field`/`[i]`/`as` chains and chains of binary operators (which nest to the left) all count;
/// so do the bodies of helpers inlined into an expression (each inlined call counts for 5
/// levels), and constants defined through other constants. Every pass of the compiler recurses
/// over the tree, so this bounds its stack use.
pub const MAX_DEPTH: usize = 256;

/// How many instructions one entry point may compile to, helpers inlined (`udf::limit::size`,
/// or `udf::limit::inline` when inlining crossed it). The verifier's budget of 1,000,000
/// worst-case instructions (`udf_verifier::DEFAULT_BUDGET`) allows no more than this in any
/// program a `.udf` loop could need, and 16-bit jumps reach only 32,767 instructions.
pub const MAX_INSNS: usize = 65_536;

/// How many statements and expressions may be lowered for one entry point, helpers inlined once
/// per call (`udf::limit::inline`): nested helpers that call each other twice would otherwise
/// take time exponential in the size of the source even when they emit no code.
pub const MAX_LOWERED: u64 = 2_000_000;

/// How many layouts may nest in each other (`udf::limit::depth`).
pub const MAX_LAYOUT_NESTING: usize = MAX_DEPTH;

/// How many errors a file reports; the rest are counted in a final `udf::limit::errors`.
pub const MAX_DIAGNOSTICS: usize = 100;

/// The longest message a diagnostic keeps (bytes); longer ones, quoting a huge name or literal,
/// are cut and end in `…`.
pub const MAX_MESSAGE: usize = 400;
