//! Running the external tools (e2fsprogs, dosfstools, mtools): found in `PATH` or the sbin
//! directories (where Debian puts `mke2fs` and `debugfs`, often outside a user's `PATH`), run
//! with a fixed locale, and turned into [`Error`]s that say what to install when missing.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A tool and the Debian package that installs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    /// The program's name.
    pub name: &'static str,
    /// Its package.
    pub package: &'static str,
}

/// `mke2fs` (e2fsprogs).
pub const MKE2FS: Tool = Tool::new("mke2fs", "e2fsprogs");
/// `debugfs` (e2fsprogs).
pub const DEBUGFS: Tool = Tool::new("debugfs", "e2fsprogs");
/// `e2fsck` (e2fsprogs).
pub const E2FSCK: Tool = Tool::new("e2fsck", "e2fsprogs");
/// `mkfs.fat` (dosfstools).
pub const MKFS_FAT: Tool = Tool::new("mkfs.fat", "dosfstools");
/// `mcopy` (mtools).
pub const MCOPY: Tool = Tool::new("mcopy", "mtools");
/// `mdel` (mtools).
pub const MDEL: Tool = Tool::new("mdel", "mtools");

impl Tool {
    /// The tool `name`, installed by the Debian package `package`.
    pub const fn new(name: &'static str, package: &'static str) -> Tool {
        Tool { name, package }
    }

    /// Where the tool is: the first `PATH` entry holding it, then `/usr/sbin`, `/sbin`,
    /// `/usr/local/sbin`.
    pub fn locate(self) -> Result<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
        std::env::split_paths(&path)
            .chain(extra)
            .map(|d| d.join(self.name))
            .find(|p| p.is_file())
            .ok_or(Error::ToolMissing { tool: self.name, package: self.package })
    }

    /// A command running the tool, with `LC_ALL=C` (messages and number formats fixed),
    /// `debugfs`'s pager off and mtools' sanity check of the image's geometry skipped.
    pub fn command(self) -> Result<Command> {
        let mut cmd = Command::new(self.locate()?);
        cmd.env("LC_ALL", "C")
            .env("DEBUGFS_PAGER", "__none__")
            .env("PAGER", "__none__")
            .env("MTOOLS_SKIP_CHECK", "1")
            .stdin(Stdio::null());
        Ok(cmd)
    }
}

/// Runs `cmd` to completion; a failure status is an [`Error::ToolFailed`] with its stdout and
/// stderr.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let line = command_line(cmd);
    let out = cmd.output().map_err(|e| Error::ToolFailed {
        command: line.clone(),
        status: "could not start".into(),
        stderr: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(Error::ToolFailed {
            command: line,
            status: out.status.to_string(),
            // Some tools (e2fsck) report what they found on stdout.
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(out)
}

/// The command as a shell would show it (for messages).
pub fn command_line(cmd: &Command) -> String {
    let mut s = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package() {
        let t = Tool { name: "udf-corpus-no-such-tool", package: "nothing" };
        let e = t.locate().unwrap_err();
        assert!(e.to_string().contains("apt-get install nothing"), "{e}");
    }
}
