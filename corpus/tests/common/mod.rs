//! Shared by the image tests: the corpus's `.udf` files compiled, and each `owns` entry run on
//! the interpreter and on trusted-mode JIT code, which must agree exactly (result and extents,
//! in order). The verifier's bounds are held to: its instruction bound is the interpreter's
//! budget, its extent bound caps what a run may emit.

use std::collections::HashMap;
use udf_bytecode::{CheckConfig, ProgramType};
use udf_compiler::{Entry, Module};
use udf_corpus::walk::Extent;
use udf_runtime::{Compiled, Context, EmitHelpers, Extent as Emitted, RunOptions, Vm};

/// One entry ready on both engines.
struct Ready {
    entry: Entry,
    compiled: Compiled,
    exe: udf_jit::Executable,
}

/// The compiled corpus files and a machine for each engine.
pub struct Engines {
    modules: Vec<Module>,
    ready: HashMap<String, Ready>,
    vm: Vm,
    jit: udf_jit::Jit,
    /// Runs made (each on both engines).
    pub runs: u64,
}

impl Engines {
    /// Compiles `files` (names in `corpus/fs/`); panics with the rendered diagnostics if any
    /// fails to compile.
    pub fn load(files: &[&str]) -> Engines {
        let modules = files
            .iter()
            .map(|f| {
                let path = udf_corpus::fs_dir().join(f);
                udf_compiler::compile_file(&path)
                    .unwrap_or_else(|d| panic!("{f} does not compile:\n{}", d.render()))
            })
            .collect();
        let target = udf_jit::Target::host().expect("the JIT supports this host");
        Engines {
            modules,
            ready: HashMap::new(),
            vm: Vm::new(),
            jit: udf_jit::Jit::new(target).expect("a JIT for this host"),
            runs: 0,
        }
    }

    fn prepare(&mut self, name: &str) -> Result<(), String> {
        if self.ready.contains_key(name) {
            return Ok(());
        }
        let entry = self
            .modules
            .iter()
            .find_map(|m| m.entry(name))
            .ok_or_else(|| format!("no entry point `{name}` in the corpus"))?
            .clone();
        if entry.ty != ProgramType::Owns {
            return Err(format!("`{name}` is a {} entry, not owns", entry.ty));
        }
        let compiled = udf_runtime::prepare(&entry.prog, &CheckConfig::for_type(entry.ty))
            .map_err(|e| format!("pre-run checks refuse `{name}`: {e}"))?;
        let code = self
            .jit
            .compile(&entry.prog, entry.ty, udf_jit::Mode::Trusted(&entry.facts))
            .map_err(|e| format!("the JIT refuses `{name}`: {e}"))?;
        let exe = udf_jit::Executable::new(code).map_err(|e| format!("mapping `{name}`: {e}"))?;
        self.ready.insert(name.to_string(), Ready { entry, compiled, exe });
        Ok(())
    }

    /// Runs `name` on `bytes` on both engines: the extents if they agree and the object is
    /// well-formed (r0 = 0), otherwise why not.
    pub fn owns(&mut self, name: &str, bytes: &[u8]) -> Result<Vec<Extent>, String> {
        self.prepare(name)?;
        let r = &self.ready[name];
        let size = r.entry.ctx_size.map(|s| s as usize);
        if size != Some(bytes.len()) {
            return Err(format!("takes {size:?} bytes, given {}", bytes.len()));
        }
        self.runs += 1;
        let facts = &r.entry.facts;
        let limit = usize::try_from(facts.max_extents).unwrap_or(usize::MAX).saturating_add(1);
        let opts = RunOptions { budget: facts.max_insns, r3: 0 };
        let mut interp = EmitHelpers::new(limit);
        let out = self
            .vm
            .run(&r.compiled, Context::ReadOnly(bytes), &mut interp, &opts)
            .map_err(|f| format!("interpreter fault: {f}"))?;
        let mut native = EmitHelpers::new(limit);
        let nat = r
            .exe
            .run(&mut self.vm, Context::ReadOnly(bytes), &mut native, &opts)
            .map_err(|f| format!("JIT fault: {f}"))?;
        if out.r0 != nat.r0 || interp.extents != native.extents {
            return Err(format!(
                "engines disagree: interpreter r0 = {} with {:?}, JIT r0 = {} with {:?}",
                out.r0, interp.extents, nat.r0, native.extents
            ));
        }
        if interp.extents.len() as u64 > facts.max_extents {
            return Err(format!(
                "{} extents emitted, over the verifier's bound {}",
                interp.extents.len(),
                facts.max_extents
            ));
        }
        if out.r0 != 0 {
            return Err(format!("malformed (r0 = {})", out.r0));
        }
        Ok(interp
            .extents
            .iter()
            .map(|&Emitted { start, count, kind }| (start, count, kind))
            .collect())
    }
}

/// Fails the test with every mismatch of image `name`, one per line, if there is any.
pub fn assert_no_mismatch(name: &str, bad: &[String]) {
    assert!(bad.is_empty(), "{name}: {} mismatches:\n{}", bad.len(), bad.join("\n"));
}
