//! The harness's errors: a tool missing or failing, I/O, an image or tool output that does not
//! parse, and an `owns` run that failed or disagreed with the image.

use std::fmt;
use std::path::PathBuf;

/// Anything that stops building, reading or walking an image.
#[derive(Debug)]
pub enum Error {
    /// A tool the harness runs is not installed.
    ToolMissing {
        /// Its name (`mke2fs`).
        tool: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// A tool exited with a failure status.
    ToolFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// An I/O error on a path.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Image bytes or tool output that are not what the format says.
    Format(String),
    /// An `owns` program failed (fault, "malformed" result, engines disagreeing), or asked for
    /// an entry the walker does not know.
    Owns {
        /// The entry point run.
        entry: String,
        /// What was read: `inode 12`, `block 574`, `FAT sector 3`.
        object: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ToolMissing { tool, package } => write!(
                f,
                "`{tool}` is not installed (looked in PATH and the sbin directories): install the \
                 `{package}` package (apt-get install {package})"
            ),
            Error::ToolFailed { command, status, stderr } => {
                write!(f, "`{command}` failed ({status}): {}", stderr.trim_end())
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format(m) => f.write_str(m),
            Error::Owns { entry, object, message } => write!(f, "{entry} on {object}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The harness's result type.
pub type Result<T> = std::result::Result<T, Error>;
