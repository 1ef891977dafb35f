//! `debugfs` as the oracle: what `blocks <N>` and `stat <N>` report for each inode, many inodes
//! per run (`debugfs -f`, whose stdout echoes each command as `debugfs: CMD`).
//!
//! What e2fsprogs 1.47 lists, checked on images made by [`crate::ext::build`] (and by the unit
//! tests below on the bundled transcript):
//! - `blocks <N>` prints, on one line, every block `ext2fs_block_iterate3` visits, in its order:
//!   data blocks and, for a block map, the indirect blocks themselves (single, double, triple:
//!   each listed once, in the order the map is walked: the single-indirect block before the
//!   data it maps); for an extent tree, every tree node below the root (index and leaf blocks)
//!   and every block of every leaf extent, unwritten ones included. Holes list nothing.
//! - It does NOT list the xattr block: `stat` shows it as `File ACL: N` (0 when none).
//! - It walks `i_block` whatever the inode holds there: for a fast symlink it lists the link's
//!   text read as little-endian block numbers (`blocks` of a link to "target" prints
//!   `1735549300 29797`), for a character or block device its old-style device number (`c 4
//!   5` prints `1029`). Those are not owned blocks. `stat` says which inodes these are
//!   (`Fast link dest:` / `Device major/minor number:`), and [`Listing::owned`] is then empty.
//! - A FIFO, a socket and an empty file list nothing; inline data (not used here) is refused.

use crate::error::{Error, Result};
use crate::tools::{self, DEBUGFS};
use std::collections::BTreeMap;
use std::path::Path;

/// What `i_block` holds according to `stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IBlock {
    /// A block map or extent tree (or nothing): `blocks` lists owned blocks.
    Blocks,
    /// A fast symlink's text.
    FastLink,
    /// A device number.
    Device,
}

/// debugfs's view of one inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// What `blocks <N>` printed, in its order.
    pub blocks: Vec<u64>,
    /// `File ACL:` from `stat <N>` (the xattr block, 0 when none).
    pub file_acl: u64,
    /// What `i_block` holds.
    pub iblock: IBlock,
}

impl Listing {
    /// The blocks the inode owns through `i_block`, sorted: `blocks`, except for fast symlinks
    /// and devices, which own none.
    pub fn owned(&self) -> Vec<u64> {
        let mut v = match self.iblock {
            IBlock::Blocks => self.blocks.clone(),
            IBlock::FastLink | IBlock::Device => Vec::new(),
        };
        v.sort_unstable();
        v
    }
}

/// Runs `script` (one debugfs command a line) on `img`, read-write when `write`; returns
/// stdout. Any stderr output other than the version banner is an error (debugfs exits 0 after
/// a failed command).
pub fn run_script(img: &Path, script: &str, write: bool) -> Result<String> {
    let dir = img.parent().unwrap_or(Path::new("."));
    let file = dir.join(format!(
        "{}.debugfs",
        img.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    std::fs::write(&file, script).map_err(|e| Error::io(&file, e))?;
    let mut cmd = DEBUGFS.command()?;
    if write {
        cmd.arg("-w");
    }
    cmd.arg("-f").arg(&file).arg(img);
    let line = tools::command_line(&cmd);
    let out = tools::run(&mut cmd)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> =
        stderr.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs ")).collect();
    if !complaints.is_empty() {
        return Err(Error::ToolFailed {
            command: line,
            status: "exit 0, with errors".into(),
            stderr: complaints.join("\n"),
        });
    }
    String::from_utf8(out.stdout).map_err(|_| Error::Format("debugfs output is not UTF-8".into()))
}

/// Splits `debugfs -f` output into (command, output) pairs.
pub fn sections(out: &str) -> Vec<(&str, &str)> {
    const ECHO: &str = "debugfs: ";
    let mut v = Vec::new();
    let mut rest = out;
    // Skip anything before the first echoed command.
    match rest.find(ECHO) {
        Some(i) if i == 0 || rest[..i].ends_with('\n') => rest = &rest[i..],
        _ => return v,
    }
    while let Some(after) = rest.strip_prefix(ECHO) {
        let (cmd, body_and_more) = after.split_once('\n').unwrap_or((after, ""));
        let end = body_and_more
            .match_indices(ECHO)
            .find(|&(i, _)| i == 0 || body_and_more[..i].ends_with('\n'))
            .map_or(body_and_more.len(), |(i, _)| i);
        v.push((cmd.trim_end(), &body_and_more[..end]));
        rest = &body_and_more[end..];
    }
    v
}

/// Parses the output of `blocks <N>`: block numbers separated by spaces.
pub fn parse_blocks(body: &str) -> Result<Vec<u64>> {
    body.split_whitespace()
        .map(|w| w.parse().map_err(|_| Error::Format(format!("`blocks` printed {w:?}: {body:?}"))))
        .collect()
}

/// Parses what the listing needs from the output of `stat <N>`: `File ACL:` and whether
/// `i_block` holds a fast symlink's text or a device number.
pub fn parse_stat(body: &str) -> Result<(u64, IBlock)> {
    let acl = body
        .split_once("File ACL: ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .ok_or_else(|| Error::Format(format!("no `File ACL:` in `stat` output: {body:?}")))?;
    let acl = acl.parse().map_err(|_| Error::Format(format!("`File ACL: {acl}`")))?;
    let iblock = if body.contains("\nFast link dest:") {
        IBlock::FastLink
    } else if body.contains("\nDevice major/minor number:") {
        IBlock::Device
    } else {
        IBlock::Blocks
    };
    Ok((acl, iblock))
}

/// Runs `blocks <N>` and `stat <N>` for every inode in `inos` (one debugfs run) and returns
/// each inode's [`Listing`].
pub fn listings(img: &Path, inos: &[u32]) -> Result<BTreeMap<u32, Listing>> {
    let mut script = String::new();
    for i in inos {
        script.push_str(&format!("blocks <{i}>\nstat <{i}>\n"));
    }
    let out = run_script(img, &script, false)?;
    let secs = sections(&out);
    if secs.len() != 2 * inos.len() {
        return Err(Error::Format(format!(
            "debugfs answered {} of {} commands",
            secs.len(),
            2 * inos.len()
        )));
    }
    let mut map = BTreeMap::new();
    for (pair, &ino) in secs.chunks(2).zip(inos) {
        let (bc, bb) = pair[0];
        let (sc, sb) = pair[1];
        if bc != format!("blocks <{ino}>") || sc != format!("stat <{ino}>") {
            return Err(Error::Format(format!(
                "debugfs output out of step at inode {ino}: {bc:?}, {sc:?}"
            )));
        }
        let (file_acl, iblock) = parse_stat(sb)?;
        map.insert(ino, Listing { blocks: parse_blocks(bb)?, file_acl, iblock });
    }
    Ok(map)
}

/// The inode numbers of `paths` (absolute paths in the image), from `stat PATH`.
pub fn inode_numbers(img: &Path, paths: &[&str]) -> Result<Vec<u32>> {
    let script: String = paths.iter().map(|p| format!("stat {p}\n")).collect();
    let out = run_script(img, &script, false)?;
    let secs = sections(&out);
    if secs.len() != paths.len() {
        return Err(Error::Format(format!(
            "debugfs answered {} of {} `stat`s",
            secs.len(),
            paths.len()
        )));
    }
    secs.iter()
        .zip(paths)
        .map(|((_, body), p)| {
            body.strip_prefix("Inode: ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Error::Format(format!("`stat {p}`: {body:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Abridged from `debugfs -f` on an ext2 image (e2fsprogs 1.47.0).
    const TRANSCRIPT: &str = "debugfs: blocks <12>
562 563 564 565 566 567 568 569 570 571 572 573 574 575 576 831 832 833 
debugfs: stat <12>
Inode: 12   Type: regular    Mode:  0644   Flags: 0x0
Generation: 0    Version: 0x00000000:00000000
User:     0   Group:     0   Project:     0   Size: 307200
File ACL: 0
Links: 1   Blockcount: 606
BLOCKS:
(0-11):562-573, (IND):574, (12-13):575-576, (DIND):831, (IND):832, (268):833
TOTAL: 18

debugfs: blocks <1>

debugfs: stat <1>
Inode: 1   Type: bad type    Mode:  0000   Flags: 0x0
File ACL: 0
Links: 0   Blockcount: 0
debugfs: blocks <314>
1735549300 29797 
debugfs: stat <314>
Inode: 314   Type: symlink    Mode:  0777   Flags: 0x0
File ACL: 885
Size of extra inode fields: 32
Fast link dest: \"target\"
debugfs: blocks <319>
1029 
debugfs: stat <319>
Inode: 319   Type: character special    Mode:  0000   Flags: 0x0
File ACL: 0
Device major/minor number: 04:05 (hex 04:05)
";

    #[test]
    fn sections_follow_the_echoed_commands() {
        let s = sections(TRANSCRIPT);
        let cmds: Vec<&str> = s.iter().map(|p| p.0).collect();
        assert_eq!(
            cmds,
            [
                "blocks <12>",
                "stat <12>",
                "blocks <1>",
                "stat <1>",
                "blocks <314>",
                "stat <314>",
                "blocks <319>",
                "stat <319>"
            ]
        );
        assert_eq!(parse_blocks(s[0].1).unwrap().len(), 18);
        assert_eq!(parse_blocks(s[2].1).unwrap(), Vec::<u64>::new());
        assert_eq!(parse_stat(s[1].1).unwrap(), (0, IBlock::Blocks));
        assert_eq!(parse_stat(s[5].1).unwrap(), (885, IBlock::FastLink));
        assert_eq!(parse_stat(s[7].1).unwrap(), (0, IBlock::Device));
    }

    #[test]
    fn fast_links_and_devices_own_nothing() {
        let l = Listing { blocks: vec![1735549300, 29797], file_acl: 0, iblock: IBlock::FastLink };
        assert!(l.owned().is_empty());
        let l = Listing { blocks: vec![9, 3], ..l };
        assert_eq!(Listing { iblock: IBlock::Blocks, ..l }.owned(), [3, 9]);
    }

    #[test]
    fn bad_output_is_an_error() {
        assert!(parse_blocks("12 x3").is_err());
        assert!(parse_stat("Inode: 3").is_err());
    }
}
