//! Runs a PREVAIL case through udfkit's verifier and compares verdicts: PREVAIL rejects when it
//! expects any message other than "Code becomes unreachable"; udfkit rejects when
//! [`udf_verifier::verify`] does.
//!
//! Translation: each case is verified as a `size` program with a 64-byte read-only context and
//! no helpers (PREVAIL's context is 64 bytes; helper calls are refused), or as a `filter` when
//! it uses LD_ABS/LD_IND. The entry state is `pre`
//! alone: numbers with their signed and unsigned bounds, ctx pointers at their offset, stack
//! pointers relative to `r10` at PREVAIL's `stack_offset` 512 (cases that place `r10`
//! elsewhere are skipped); `r10` is always the frame pointer. `assume C` becomes
//! `if !C goto sink` with an `exit` at the sink, and neither that exit nor the one appended
//! after a fragment checks `r0` ([`udf_verifier::Config::fragment_exits`]), as PREVAIL checks
//! `r0` only at the program's own `exit`. `!allow_division_by_zero` maps to
//! [`udf_verifier::Config::reject_division_by_zero`]. udfkit always proves termination, while
//! PREVAIL only does with the `termination` option: that difference is counted, not hidden.

use udf_bytecode::{Insn, Program, ProgramType};
use udf_verifier::{Config, Scalar, Value, ValueKind, verify};

use super::{AssumeMode, Case, RegPre, assemble_with, parse_pre, unsupported_option};

/// How one case went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Same verdict; the text says which and why (udfkit's rejection when there is one).
    Agree(String),
    /// Different verdicts.
    Disagree {
        /// Whether PREVAIL rejects.
        prevail_rejects: bool,
        /// What udfkit said.
        udfkit: String,
    },
    /// Not translatable.
    Skip(String),
}

fn scalar(s: Option<(i64, i64)>, u: Option<(u64, u64)>) -> Option<Scalar> {
    let mut n = Scalar::TOP;
    if let Some((lo, hi)) = s {
        n = n.meet(&Scalar::srange(lo, hi))?;
    }
    if let Some((lo, hi)) = u {
        n = n.meet(&Scalar::urange(lo, hi))?;
    }
    Some(n)
}

/// The entry registers `pre` describes, or why not.
fn entry(case: &Case) -> Result<[Value; 11], String> {
    let pre = parse_pre(case).map_err(|e| e.0)?;
    if let RegPre::Stack { offset } = pre.regs[10]
        && offset != (512, 512)
    {
        return Err(format!("r10 at stack_offset {offset:?}, not 512"));
    }
    let mut regs = [Value::UNINIT; 11];
    for (k, r) in pre.regs.iter().enumerate() {
        regs[k] = match *r {
            RegPre::Uninit => Value::UNINIT,
            RegPre::Number { s, u } => Value::scalar(
                scalar(s, u).ok_or_else(|| format!("r{k}: empty number range in pre"))?,
            ),
            RegPre::Stack { offset: (lo, hi) } => Value {
                kind: ValueKind::Stack { frame: 0 },
                n: Scalar::srange(lo - 512, hi - 512),
                sym: None,
            },
            RegPre::Ctx { offset: (lo, hi) } => {
                Value { kind: ValueKind::Ctx, n: Scalar::srange(lo, hi), sym: None }
            }
        };
    }
    regs[10] = Value { kind: ValueKind::Stack { frame: 0 }, n: Scalar::constant(0), sym: None };
    Ok(regs)
}

/// Verifies `case` and compares with PREVAIL's verdict.
pub fn judge(case: &Case) -> Outcome {
    if let Some(o) = unsupported_option(case) {
        return Outcome::Skip(o);
    }
    if case.expected_exception.is_some() {
        return Outcome::Skip("PREVAIL expects its reader to fail on this case".to_string());
    }
    if case.expects_reject()
        && case
            .messages
            .iter()
            .filter(|m| !m.contains(super::UNREACHABLE_NOTE))
            .all(|m| m.contains("observation"))
    {
        return Outcome::Skip(
            "PREVAIL rejects only because an `observe` assertion of its test harness fails"
                .to_string(),
        );
    }
    let asm = match assemble_with(case, AssumeMode::SinkLoop) {
        Ok(a) => a,
        Err(e) => return Outcome::Skip(e.0),
    };
    let calls = asm.program.insns().iter().any(|i| matches!(i, Insn::CallLocal { .. }));
    if asm.assume_sink.is_some() && calls {
        return Outcome::Skip(
            "`assume` with local calls: its sink would lie in another function".to_string(),
        );
    }
    let regs = match entry(case) {
        Ok(r) => r,
        Err(e) => return Outcome::Skip(e),
    };
    // The assume sink ends a path like an exit does.
    let mut insns = asm.program.insns().to_vec();
    let mut fragment_exits = Vec::new();
    if let Some(pc) = asm.assume_sink
        && let Some(i) = asm.program.index_at(pc)
    {
        insns[i] = Insn::Exit;
        fragment_exits.push(i);
    }
    if let Some(pc) = asm.appended_exit
        && let Some(i) = asm.program.index_at(pc)
    {
        fragment_exits.push(i);
    }
    let prog = match Program::from_insns(insns) {
        Ok(p) => p,
        Err(e) => return Outcome::Skip(format!("does not form a program: {e}")),
    };
    // Legacy packet loads are a filter's; otherwise a 64-byte read-only context.
    let legacy =
        prog.insns().iter().any(|i| matches!(i, Insn::LoadAbs { .. } | Insn::LoadInd { .. }));
    let mut conf = Config::new(if legacy { ProgramType::Filter } else { ProgramType::Size });
    conf.ctx_size = Some(64);
    conf.entry = Some(regs);
    conf.fragment_exits = fragment_exits;
    conf.reject_division_by_zero = case.options.iter().any(|o| o == "!allow_division_by_zero");
    let ours = verify(&prog, &conf);
    let prevail_rejects = case.expects_reject();
    match (&ours, prevail_rejects) {
        (Ok(f), false) => Outcome::Agree(format!("both accept (bound {})", f.max_insns)),
        (Err(e), true) => Outcome::Agree(format!("both reject; udfkit: {}", one_line(e))),
        (Ok(f), true) => Outcome::Disagree {
            prevail_rejects,
            udfkit: format!("accepted (bound {})", f.max_insns),
        },
        (Err(e), false) => {
            Outcome::Disagree { prevail_rejects, udfkit: format!("rejected: {}", one_line(e)) }
        }
    }
}

fn one_line(e: &udf_verifier::Rejection) -> String {
    format!("instruction {}: {}", e.index, e.rule)
}
