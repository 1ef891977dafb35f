//! What a kernel calls to accept a download: [`Table::load`] takes the bytes of a
//! package ([`crate::package`]) and either installs a program or says, as a typed
//! [`LoadError`], why not. Nothing is installed unless every check passes.
//!
//! The steps, in order:
//! 1. **Authenticate** before parsing anything beyond the fixed header fields: a package whose
//!    flags say it is authenticated needs the kernel's key and a valid tag; one that does not is
//!    refused if the [`Policy`] requires a tag on every package ([`Policy::require_tag`]:
//!    refused whether or not the kernel holds a key) or if it carries native code (its
//!    header's target is not none).
//! 2. **Parse** it ([`Package::parse`]).
//! 3. **Re-verify**: decode the bytecode and run the kernel's own verifier for the package's
//!    type and context size. The package's facts are never believed.
//! 4. **Compare facts**: the package's facts must equal the recomputed ones, field by field
//!    (native code in trusted mode was compiled with them).
//! 5. **Choose the engine**: trusted native code for this host (x86-64 with the `std`
//!    feature) is mapped W^X; otherwise, with the `jit` feature, the kernel compiles the
//!    bytecode itself; otherwise the interpreter runs it. [`Table::engine`] records which and
//!    why. Under [`NativePolicy::Hardened`] (the table's [`Table::set_native_policy`]) only
//!    hardened native code runs: the package's trusted code is not mapped and the kernel's JIT
//!    compiles hardened code (a bounds check on every context access).
//! 6. **Install** into the table.
//!
//! [`Table::install_bytecode`] runs steps 3, 5 and 6 for programs the kernel builds itself.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;

use udf_bytecode::{CheckError, DecodeError, Program, ProgramType};
use udf_runtime::native::{ExecHost, RegionEntry};
use udf_verifier::{Config, Rejection, Verified};

use crate::package::{
    self, Envelope, FactsField, NativeMode, NativeSection, Package, PackageError, Target,
};
use crate::program::{Installed, InstalledCode};

/// What a kernel accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The kernel's authentication key; `None`: authenticated packages are refused.
    pub key: Option<Vec<u8>>,
    /// Whether bytecode packages without a tag are accepted (they are re-verified like every
    /// package; native code without a tag never is). `false` requires an authentication tag
    /// on every package ([`Policy::require_tag`]).
    pub allow_unauthenticated_bytecode: bool,
}

impl Policy {
    /// A kernel that requires an authentication tag on every package: one without a tag is
    /// refused ([`LoadError::Unauthenticated`]) before anything else is read, whether or not
    /// the kernel holds a key; one with a tag must verify under `key` (without a key it is
    /// refused, [`LoadError::KeyRequired`]).
    pub fn require_tag(key: Option<Vec<u8>>) -> Policy {
        Policy { key, allow_unauthenticated_bytecode: false }
    }

    /// A kernel that authenticates tagged packages with `key` and also accepts bytecode
    /// packages without a tag (re-verified like every package; untagged native code is still
    /// refused).
    pub fn allow_untagged_bytecode(key: Option<Vec<u8>>) -> Policy {
        Policy { key, allow_unauthenticated_bytecode: true }
    }

    /// Whether every package must carry an authentication tag.
    pub fn requires_tag(&self) -> bool {
        !self.allow_unauthenticated_bytecode
    }
}

/// Which native code a kernel runs for verified programs (see `abi.md`, "Engines").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NativePolicy {
    /// Trusted code: no run-time checks, the verifier's facts place every access. Packages'
    /// trusted native code is mapped.
    #[default]
    Trusted,
    /// Hardened code: trusted code that keeps a bounds check on every context access (a
    /// second line of defence against a verifier bug; no budget metering). Packages' native
    /// code (trusted) is not mapped; the kernel's JIT compiles hardened code, or the
    /// interpreter runs the program.
    Hardened,
}

/// A program in a [`Table`]. Ids are never reused: a removed program's id stays dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProgramId(usize);

impl ProgramId {
    /// Its index in the table.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for ProgramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "program {}", self.0)
    }
}

/// Why a program does not run the package's native code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The package has no native code.
    NoNativeCode,
    /// The native code is for another machine.
    OtherTarget(Target),
    /// The native code is in checked mode (only trusted code is mapped).
    CheckedCode,
    /// This kernel cannot run native code (no executable memory: a table made without an
    /// [`ExecHost`], or not an x86-64 host).
    NoNativeSupport,
    /// Mapping the code failed.
    MapFailed(String),
    /// The kernel's JIT failed (a JIT bug for a verified program).
    JitFailed(String),
    /// The kernel's [`NativePolicy::Hardened`] does not run the package's trusted code.
    HardenedPolicy,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::NoNativeCode => write!(f, "the package has no native code"),
            Fallback::OtherTarget(t) => write!(f, "its native code is for {t}"),
            Fallback::CheckedCode => {
                write!(f, "its native code is checked code (only trusted code is mapped)")
            }
            Fallback::NoNativeSupport => write!(f, "this kernel cannot run native code"),
            Fallback::MapFailed(why) => write!(f, "mapping its native code failed: {why}"),
            Fallback::JitFailed(why) => write!(f, "the kernel's JIT failed: {why}"),
            Fallback::HardenedPolicy => write!(
                f,
                "the kernel's policy runs only hardened native code, and the package's is trusted"
            ),
        }
    }
}

/// How an installed program runs, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// The package's native code, mapped W^X.
    PackageNative,
    /// Native code the kernel's JIT compiled from the bytecode, and why not the package's.
    Jit(Fallback),
    /// The interpreter, and why not native code.
    Interp(Fallback),
}

impl EngineChoice {
    /// Whether the program runs as native code.
    pub fn is_native(&self) -> bool {
        !matches!(self, EngineChoice::Interp(_))
    }
}

impl fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineChoice::PackageNative => write!(f, "native (the package's code)"),
            EngineChoice::Jit(why) => {
                write!(f, "native, compiled by the kernel's JIT ({why})")
            }
            EngineChoice::Interp(why) => write!(f, "interpreted ({why})"),
        }
    }
}

/// Why a package or program was not installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The package says it is authenticated and the kernel holds no key.
    KeyRequired,
    /// A package carrying native code (target byte not none) without a tag.
    UnauthenticatedNative {
        /// The header's target byte.
        target: u8,
    },
    /// A package without a tag, and the policy requires one on every package.
    Unauthenticated,
    /// The bytes are not a well-formed package, or not authentic.
    Package(PackageError),
    /// A type that cannot be installed (`raw`).
    Type(ProgramType),
    /// A bad name (see [`package::check_name`]).
    Name,
    /// The bytecode does not decode.
    Decode(DecodeError),
    /// The kernel's verifier rejected the program.
    Rejected(Box<Rejection>),
    /// The package's facts differ from the kernel's in this field.
    FactsDisagree {
        /// The first field that differs.
        field: FactsField,
    },
    /// A source map that has neither one span per instruction nor none.
    SourceMap {
        /// Its spans.
        spans: usize,
        /// The program's instructions.
        insns: usize,
    },
    /// The native code's region table does not fit the program or the code.
    NativeRegions {
        /// Index of the first bad region.
        index: usize,
    },
    /// The pre-run checks for the interpreter failed (a verifier or checker bug).
    Check(CheckError),
}

impl From<PackageError> for LoadError {
    fn from(e: PackageError) -> LoadError {
        LoadError::Package(e)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::KeyRequired => {
                write!(f, "an authenticated package, and this kernel holds no key")
            }
            LoadError::UnauthenticatedNative { target } => write!(
                f,
                "a package with native code (target byte {target}) and no authentication tag"
            ),
            LoadError::Unauthenticated => write!(
                f,
                "the package has no authentication tag, and this kernel's policy requires one on every package"
            ),
            LoadError::Package(e) => write!(f, "{e}"),
            LoadError::Type(ty) => write!(f, "`{ty}` programs cannot be installed"),
            LoadError::Name => {
                write!(f, "bad name (1 to {} bytes of A-Z a-z 0-9 _ . -)", package::MAX_NAME_LEN)
            }
            LoadError::Decode(e) => write!(f, "the bytecode does not decode: {e}"),
            LoadError::Rejected(r) => write!(f, "the kernel's verifier rejects it: {r}"),
            LoadError::FactsDisagree { field } => {
                write!(f, "the package's facts disagree with the kernel's verifier on `{field}`")
            }
            LoadError::SourceMap { spans, insns } => {
                write!(f, "a source map of {spans} spans for {insns} instructions")
            }
            LoadError::NativeRegions { index } => {
                write!(f, "native region {index} does not fit the program or the code")
            }
            LoadError::Check(e) => write!(f, "the pre-run checks fail: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LoadError {}

/// An installed program and how it came to run the way it does.
#[derive(Debug)]
struct Slot {
    installed: Installed,
    engine: EngineChoice,
}

/// The programs a kernel has installed.
#[derive(Debug)]
pub struct Table {
    slots: Vec<Option<Slot>>,
    /// Where native code is mapped: the host's executable memory, if it has any.
    exec: Option<&'static dyn ExecHost>,
    /// Which native code programs installed from now on run.
    native_policy: NativePolicy,
    /// Whether the kernel's JIT compiles programs without native code ([`Table::set_kernel_jit`]).
    #[cfg_attr(not(feature = "jit"), allow(dead_code))]
    kernel_jit: bool,
    /// The kernel's compiler, made on first use.
    #[cfg(feature = "jit")]
    jit: Option<udf_jit::Jit>,
}

/// Re-verifies `prog` as a `ty` program over a `ctx_size`-byte object with the kernel's
/// verifier (default budget).
fn verify(prog: &Program, ty: ProgramType, ctx_size: Option<u32>) -> Result<Verified, LoadError> {
    if !ty.info().verified {
        return Err(LoadError::Type(ty));
    }
    let mut conf = Config::new(ty);
    conf.ctx_size = ctx_size;
    udf_verifier::verify(prog, &conf).map_err(|r| LoadError::Rejected(Box::new(r)))
}

/// The interpreter's form of a verified program. Register use is the verifier's to decide
/// (path by path), as in the JIT's trusted mode.
fn interp_form(prog: &Program, ty: ProgramType) -> Result<udf_runtime::Compiled, LoadError> {
    udf_runtime::prepare(prog, &udf_runtime::pre_run_checks(ty, true)).map_err(LoadError::Check)
}

/// Checks a region table against the program and the code: it starts at slot 0, its slots
/// increase and lie inside the program, its offsets lie inside the code.
fn check_regions(regions: &[RegionEntry], slots: usize, code_len: usize) -> Result<(), LoadError> {
    let mut prev: Option<u32> = None;
    for (index, r) in regions.iter().enumerate() {
        let ordered = match prev {
            None => r.start == 0,
            Some(p) => r.start > p,
        };
        let inside = usize::try_from(r.start).is_ok_and(|s| s < slots)
            && usize::try_from(r.offset).is_ok_and(|o| o < code_len);
        if !ordered || !inside {
            return Err(LoadError::NativeRegions { index });
        }
        prev = Some(r.start);
    }
    if regions.is_empty() {
        return Err(LoadError::NativeRegions { index: 0 });
    }
    Ok(())
}

/// The authenticated bytes of a package and the key they were authenticated with: what the
/// runtime checks again before it maps the package's native code.
#[derive(Clone, Copy)]
struct Signed<'a> {
    bytes: &'a [u8],
    key: &'a [u8],
}

/// Maps a package's trusted native code W^X (facts compared, regions checked). The runtime
/// itself authenticates the bytes it maps and checks they belong to `facts`'s program
/// ([`udf_runtime::native::NativeProgram::load_authenticated_in`]): nothing here is taken on
/// trust. The code goes into `exec`, the host's executable memory.
fn map_package(
    exec: &'static dyn ExecHost,
    signed: Option<Signed<'_>>,
    facts: &Verified,
) -> Result<InstalledCode, Fallback> {
    let Some(Signed { bytes, key }) = signed else {
        return Err(Fallback::MapFailed("the package is not authenticated".to_string()));
    };
    udf_runtime::native::NativeProgram::load_authenticated_in(exec, key, bytes, facts)
        .map(InstalledCode::Native)
        .map_err(|e| Fallback::MapFailed(e.to_string()))
}

impl Default for Table {
    /// [`Table::new`].
    fn default() -> Table {
        Table::new()
    }
}

impl Table {
    /// An empty table, with the default [`NativePolicy`]; with `std`, native code is mapped
    /// into the process's memory ([`udf_runtime::native::MMAP_HOST`]), without it the table
    /// has no executable memory (see [`Table::with_exec`]).
    pub fn new() -> Table {
        #[cfg(feature = "std")]
        let exec: Option<&'static dyn ExecHost> = Some(&udf_runtime::native::MMAP_HOST);
        #[cfg(not(feature = "std"))]
        let exec = None;
        Table::with_exec_memory(exec)
    }

    /// An empty table that maps native code into `exec`, the host's executable memory (the
    /// bare-metal kernel's page tables, ...).
    pub fn with_exec(exec: &'static dyn ExecHost) -> Table {
        Table::with_exec_memory(Some(exec))
    }

    fn with_exec_memory(exec: Option<&'static dyn ExecHost>) -> Table {
        Table {
            slots: Vec::new(),
            exec,
            native_policy: NativePolicy::default(),
            kernel_jit: true,
            #[cfg(feature = "jit")]
            jit: None,
        }
    }

    /// Whether this table can map native code for `target`: it has executable memory, and
    /// `target` is this machine's.
    fn runs_native(&self, target: Option<Target>) -> bool {
        self.exec.is_some() && target.is_some() && target == Target::host()
    }

    /// Whether the kernel's own JIT (the `jit` feature) compiles the programs installed from
    /// now on that bring no native code it maps (on by default where the feature is built). Off,
    /// they run on the interpreter, as in a kernel built without it: a host whose behaviour
    /// must not depend on which features a build happened to unify (the command line) says so.
    pub fn set_kernel_jit(&mut self, on: bool) {
        self.kernel_jit = on;
    }

    /// Sets which native code the programs installed from now on run.
    pub fn set_native_policy(&mut self, policy: NativePolicy) {
        self.native_policy = policy;
    }

    /// Which native code programs installed from now on run.
    pub fn native_policy(&self) -> NativePolicy {
        self.native_policy
    }

    /// Authenticates, parses, re-verifies and installs a package (see the module doc for the
    /// steps). On any error nothing is installed.
    pub fn load(&mut self, bytes: &[u8], policy: &Policy) -> Result<ProgramId, LoadError> {
        // 1. Authenticate, reading only the fixed header fields.
        let envelope = Envelope::read(bytes)?;
        let mut signed = None;
        if envelope.authenticated {
            let key = policy.key.as_deref().ok_or(LoadError::KeyRequired)?;
            package::authenticate(bytes, key)?;
            signed = Some(Signed { bytes, key });
        } else if policy.requires_tag() {
            return Err(LoadError::Unauthenticated);
        } else if envelope.target != package::target_code(None) {
            return Err(LoadError::UnauthenticatedNative { target: envelope.target });
        }
        // 2. Parse.
        let pkg = Package::parse(bytes)?;
        // 3. Re-verify.
        let prog = Program::decode(&pkg.bytecode).map_err(LoadError::Decode)?;
        if let Some(map) = &pkg.source_map
            && !map.is_empty()
            && map.len() != prog.len()
        {
            return Err(LoadError::SourceMap { spans: map.len(), insns: prog.len() });
        }
        let facts = verify(&prog, pkg.ty, pkg.ctx_size)?;
        // 4. The package's facts must be the kernel's.
        if let Some(field) = pkg.facts.disagreement(&facts) {
            return Err(LoadError::FactsDisagree { field });
        }
        let compiled = interp_form(&prog, pkg.ty)?;
        // 5. The engine.
        let (code, choice) = self.choose_engine(pkg.target, pkg.native.as_ref(), signed, &facts)?;
        // 6. Install.
        Ok(self.push(Slot {
            installed: Installed {
                name: pkg.name,
                ty: pkg.ty,
                ctx_size: pkg.ctx_size,
                prog,
                facts: facts.into_facts(),
                compiled,
                code,
            },
            engine: choice,
        }))
    }

    /// Verifies and installs a program the kernel built itself (no package, no native code):
    /// it runs on the interpreter, or as the kernel's JIT compiles it (feature `jit`).
    pub fn install_bytecode(
        &mut self,
        name: &str,
        ty: ProgramType,
        ctx_size: Option<u32>,
        prog: &Program,
    ) -> Result<ProgramId, LoadError> {
        package::check_name(name.as_bytes()).map_err(|_| LoadError::Name)?;
        let facts = verify(prog, ty, ctx_size)?;
        let compiled = interp_form(prog, ty)?;
        let (code, choice) = self.choose_engine(None, None, None, &facts)?;
        Ok(self.push(Slot {
            installed: Installed {
                name: String::from(name),
                ty,
                ctx_size,
                prog: prog.clone(),
                facts: facts.into_facts(),
                compiled,
                code,
            },
            engine: choice,
        }))
    }

    /// The installed program `id`.
    pub fn get(&self, id: ProgramId) -> Option<&Installed> {
        self.slot(id).map(|s| &s.installed)
    }

    /// How program `id` runs, and why.
    pub fn engine(&self, id: ProgramId) -> Option<&EngineChoice> {
        self.slot(id).map(|s| &s.engine)
    }

    /// Uninstalls program `id`, giving it back.
    pub fn remove(&mut self, id: ProgramId) -> Option<Installed> {
        self.slots.get_mut(id.0).and_then(Option::take).map(|s| s.installed)
    }

    /// Programs installed.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Whether no program is installed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The installed programs with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (ProgramId, &Installed)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (ProgramId(i), &s.installed)))
    }

    /// The most recently installed program called `name`.
    pub fn find(&self, name: &str) -> Option<ProgramId> {
        let mut found = None;
        for (id, p) in self.iter() {
            if p.name() == name {
                found = Some(id);
            }
        }
        found
    }

    fn slot(&self, id: ProgramId) -> Option<&Slot> {
        self.slots.get(id.0).and_then(Option::as_ref)
    }

    fn push(&mut self, slot: Slot) -> ProgramId {
        self.slots.push(Some(slot));
        ProgramId(self.slots.len() - 1)
    }

    /// Step 5: the package's trusted native code when this host runs it, else the kernel's
    /// JIT (feature `jit`), else the interpreter. A region table that does not fit the
    /// program is refused whatever the target.
    fn choose_engine(
        &mut self,
        target: Option<Target>,
        native: Option<&NativeSection>,
        signed: Option<Signed<'_>>,
        facts: &Verified,
    ) -> Result<(InstalledCode, EngineChoice), LoadError> {
        let prog = facts.program();
        let why = match native {
            None => Fallback::NoNativeCode,
            Some(n) => {
                check_regions(&n.regions, prog.slot_count(), n.code.len())?;
                if n.mode == NativeMode::Checked {
                    Fallback::CheckedCode
                } else if self.native_policy == NativePolicy::Hardened {
                    Fallback::HardenedPolicy
                } else if let Some(other) = target.filter(|&t| Some(t) != Target::machine()) {
                    Fallback::OtherTarget(other)
                } else if let Some(exec) = self.exec.filter(|_| self.runs_native(target)) {
                    match map_package(exec, signed, facts) {
                        Ok(engine) => return Ok((engine, EngineChoice::PackageNative)),
                        Err(why) => why,
                    }
                } else {
                    Fallback::NoNativeSupport
                }
            }
        };
        #[cfg(feature = "jit")]
        let why = match self.kernel_jit.then(|| self.jit_compile(facts)) {
            Some(Ok(p)) => return Ok((InstalledCode::Native(p), EngineChoice::Jit(why))),
            Some(Err(Some(e))) => Fallback::JitFailed(e),
            Some(Err(None)) | None => why,
        };
        #[cfg(not(feature = "jit"))]
        let _ = facts;
        Ok((InstalledCode::Interp, EngineChoice::Interp(why)))
    }

    /// Compiles `prog` with the kernel's JIT for this host, in trusted or hardened mode as the
    /// [`NativePolicy`] says, and maps it; `Err(None)` when this host cannot run native code.
    #[cfg(feature = "jit")]
    fn jit_compile(
        &mut self,
        facts: &Verified,
    ) -> Result<udf_runtime::native::NativeProgram, Option<String>> {
        let (prog, ty) = (facts.program(), facts.ty());
        if !self.runs_native(Target::host()) {
            return Err(None);
        }
        let jit = match &mut self.jit {
            Some(j) => j,
            slot => {
                slot.insert(udf_jit::Jit::new(Target::X86_64).map_err(|e| Some(e.to_string()))?)
            }
        };
        let mode = match self.native_policy {
            NativePolicy::Trusted => udf_jit::Mode::Trusted(facts),
            NativePolicy::Hardened => udf_jit::Mode::Hardened(facts),
        };
        let code = jit.compile(prog, ty, mode).map_err(|e| Some(e.to_string()))?;
        check_regions(code.regions(), prog.slot_count(), code.bytes().len())
            .map_err(|e| Some(e.to_string()))?;
        // The JIT maps its own output (its soundness argument lives there), and the mapped
        // code refuses the context lengths the proof did not assume.
        udf_jit::Executable::new(code)
            .map(udf_jit::Executable::into_native)
            .map_err(|e| Some(e.to_string()))
    }
}
