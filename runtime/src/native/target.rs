//! The instruction sets native code is made for: one type for the JIT (what it emits) and the
//! download package (what a package's native section is for).

use core::fmt;

/// An instruction set native code is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// x86-64 (System V calling convention).
    X86_64,
    /// AArch64 (AAPCS64).
    Aarch64,
    /// RISC-V 64 (RV64GC).
    Riscv64,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 3] = [Target::X86_64, Target::Aarch64, Target::Riscv64];

    /// The machine this process runs on, if native code runs on it (only x86-64 hosts run
    /// native code so far: others need an instruction-cache flush after writing code).
    pub fn host() -> Option<Target> {
        cfg!(target_arch = "x86_64").then_some(Target::X86_64)
    }

    /// The instruction set this process was built for, whether or not native code runs on it.
    pub fn machine() -> Option<Target> {
        if cfg!(target_arch = "x86_64") {
            Some(Target::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Target::Aarch64)
        } else if cfg!(target_arch = "riscv64") {
            Some(Target::Riscv64)
        } else {
            None
        }
    }

    /// Its name on the command line (`x86_64`, `aarch64`, `riscv64`).
    pub fn name(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64",
            Target::Aarch64 => "aarch64",
            Target::Riscv64 => "riscv64",
        }
    }

    /// Parses [`Target::name`].
    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Its byte in a package header (0 there means no native code).
    pub fn code(self) -> u8 {
        match self {
            Target::X86_64 => 1,
            Target::Aarch64 => 2,
            Target::Riscv64 => 3,
        }
    }

    /// The target with this header byte.
    pub fn from_code(code: u8) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.code() == code)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
