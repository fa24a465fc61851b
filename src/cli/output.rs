//! Files a run writes (`-o`, `--summary-file`): a regular file is written under a
//! temporary name beside its final one and renamed into place when the run ends, so a
//! run that fails before writing anything never destroys an earlier result. Hands the
//! writer to the span sink and, at the end, settles what the final name holds.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tempfile::TempPath;

/// An output file being written.
pub enum Staged {
    /// Not a regular file (a device such as `/dev/null`, a pipe): written in place.
    Direct,
    /// Written to `temp`, renamed to `target` when settled.
    Temp { temp: TempPath, target: PathBuf },
}

/// How a run ended, as far as its output is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// To the end: the file takes its final name, whatever it holds.
    Complete,
    /// Cut short by an error or a signal: what was written is kept (up to its last
    /// whole line) when there is any; otherwise the earlier file, if any, stays.
    CutShort,
}

/// What the final name holds once settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The whole output.
    Written,
    /// The output up to where the run stopped: `bytes` in whole lines.
    Partial { bytes: u64 },
    /// Nothing was written: the file (or its absence) is as it was before the run.
    Untouched,
}

/// Opens `target` for writing: a temporary file in the same directory (so the final
/// rename cannot cross file systems) when `target` is or will be a regular file, the
/// target itself otherwise.
pub fn create(target: &Path) -> io::Result<(File, Staged)> {
    // The file keeps the permissions of the one it replaces; a new one gets what
    // `File::create` would give it (0666 less the umask).
    let permissions = match std::fs::metadata(target) {
        Ok(meta) if meta.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        Ok(meta) if !meta.is_file() => {
            let file = OpenOptions::new().write(true).open(target)?;
            return Ok((file, Staged::Direct));
        }
        Ok(meta) => meta.permissions(),
        Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o666),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".kapture-partial")
        .permissions(permissions)
        .tempfile_in(dir)?;
    let (file, temp) = temp.into_parts();
    Ok((
        file,
        Staged::Temp {
            temp,
            target: target.to_path_buf(),
        },
    ))
}

impl Staged {
    /// Gives the final name what the run wrote, per `ending`. `written` says whether
    /// the run handed anything to the file (a span, a summary).
    pub fn settle(self, ending: Ending, written: bool) -> io::Result<Settled> {
        let Staged::Temp { temp, target } = self else {
            return Ok(match ending {
                Ending::Complete => Settled::Written,
                Ending::CutShort => Settled::Partial { bytes: 0 },
            });
        };
        match ending {
            Ending::Complete => {
                temp.persist(&target).map_err(|e| e.error)?;
                Ok(Settled::Written)
            }
            Ending::CutShort if !written => Ok(Settled::Untouched),
            Ending::CutShort => {
                let bytes = cut_to_last_line(&temp)?;
                if bytes == 0 {
                    return Ok(Settled::Untouched);
                }
                temp.persist(&target).map_err(|e| e.error)?;
                Ok(Settled::Partial { bytes })
            }
        }
    }
}

/// Truncates the file after its last newline (a write cut short can leave half a
/// line); returns the length kept.
fn cut_to_last_line(path: &Path) -> io::Result<u64> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep)?;
    }
    file.flush()?;
    Ok(keep)
}

/// Writes `text` to `target` whole or not at all: an earlier file stays as it was
/// unless the new one was written in full.
pub fn write_whole(target: &Path, text: &[u8]) -> io::Result<()> {
    let (mut file, staged) = create(target)?;
    file.write_all(text)?;
    file.sync_data().or_else(|e| match staged {
        // Devices and pipes need not support it.
        Staged::Direct => Ok(()),
        _ => Err(e),
    })?;
    drop(file);
    staged.settle(Ending::Complete, true).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_runs_replace_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("o.jsonl");
        std::fs::write(&target, "old\n").unwrap();
        let (mut file, staged) = create(&target).unwrap();
        file.write_all(b"new\n").unwrap();
        // Until settled, the earlier file is what the final name holds.
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old\n");
        drop(file);
        assert_eq!(
            staged.settle(Ending::Complete, true).unwrap(),
            Settled::Written
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn permissions_are_kept_or_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("o.jsonl");
        std::fs::write(&target, "old\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        let (_, staged) = create(&target).unwrap();
        staged.settle(Ending::Complete, true).unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // A new file: as File::create makes it.
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap();
        let fresh = dir.path().join("fresh");
        let (_, staged) = create(&fresh).unwrap();
        staged.settle(Ending::Complete, true).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), mode(&plain));
    }

    #[test]
    fn a_run_cut_short_before_writing_leaves_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("o.jsonl");
        std::fs::write(&target, "precious\n").unwrap();
        let (_file, staged) = create(&target).unwrap();
        assert_eq!(
            staged.settle(Ending::CutShort, false).unwrap(),
            Settled::Untouched
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_run_cut_short_keeps_its_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("o.jsonl");
        std::fs::write(&target, "precious\n").unwrap();
        let (mut file, staged) = create(&target).unwrap();
        file.write_all(b"{\"a\":1}\n{\"b\":").unwrap();
        drop(file);
        assert_eq!(
            staged.settle(Ending::CutShort, true).unwrap(),
            Settled::Partial { bytes: 8 }
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{\"a\":1}\n");
        // Half a line and nothing before it: nothing to keep.
        let (mut file, staged) = create(&target).unwrap();
        file.write_all(b"{\"b\":").unwrap();
        drop(file);
        assert_eq!(
            staged.settle(Ending::CutShort, true).unwrap(),
            Settled::Untouched
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{\"a\":1}\n");
    }

    #[test]
    fn long_tails_are_searched_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut text = vec![b'x'; 100];
        text.push(b'\n');
        text.extend(std::iter::repeat_n(b'y', 200 << 10));
        std::fs::write(&path, &text).unwrap();
        assert_eq!(cut_to_last_line(&path).unwrap(), 101);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 101);
    }

    #[test]
    fn devices_are_written_in_place() {
        let (_, staged) = create(Path::new("/dev/null")).unwrap();
        assert!(matches!(staged, Staged::Direct));
        let dir = tempfile::tempdir().unwrap();
        assert!(create(dir.path()).is_err());
    }

    #[test]
    fn whole_writes_replace_or_leave() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("s.json");
        write_whole(&target, b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}\n");
        assert!(write_whole(&dir.path().join("no/such/dir/s.json"), b"x").is_err());
    }
}
