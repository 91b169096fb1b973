//! The release archive: the commit's tree and every git submodule at the commit the
//! superproject pins, as one tar. `git archive` alone leaves submodules out (their
//! directories come out empty), and third-party addons are often pinned that way.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::git::Git;
use crate::transport::{Transport, TransportError};

/// Writes the archive of `commit` (with its submodules, nested ones too) to `out`, using
/// `scratch` for the submodules' own archives. Returns the submodules it holds.
pub async fn build(
    git: &Git,
    local: &dyn Transport,
    commit: &str,
    out: &Path,
    scratch: &Path,
) -> Result<Vec<PathBuf>, TransportError> {
    local.check_output(&git.archive(commit, out)).await?;
    // (repository, commit, where its files sit from the top) still to look into.
    let mut pending = vec![(git.work_tree.clone(), commit.to_owned(), PathBuf::new())];
    let mut included = Vec::new();
    while let Some((repo, commit, prefix)) = pending.pop() {
        let links = local
            .check_output(&Git::new(&repo).gitlinks(&commit))
            .await?;
        for (path, pinned) in Git::parse_gitlinks(&links) {
            let at = prefix.join(&path);
            let sub = Git::new(repo.join(&path));
            let part = scratch.join(format!("submodule-{}.tar", included.len()));
            local
                .check_output(&sub.archive_prefixed(&pinned, &at, &part))
                .await?;
            append(out, &part).map_err(|source| io_error(out, source))?;
            let _ = std::fs::remove_file(&part);
            pending.push((sub.work_tree, pinned, at.clone()));
            included.push(at);
        }
    }
    Ok(included)
}

fn io_error(path: &Path, source: io::Error) -> TransportError {
    TransportError::Io {
        host: "local".to_owned(),
        context: format!("adding a submodule to {}", path.display()),
        source,
    }
}

const BLOCK: u64 = 512;

/// Appends tar archive `from` to tar archive `into`: `into`'s end-of-archive blocks are
/// cut off, `from` (with its own end) follows. (GNU `tar --concatenate`, which bsdtar
/// lacks.)
pub fn append(into: &Path, from: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(into)?;
    let end = archive_end(&mut file)?;
    file.set_len(end)?;
    file.seek(SeekFrom::Start(end))?;
    io::copy(&mut File::open(from)?, &mut file)?;
    Ok(())
}

/// Where the archive's entries end (its first all-zero header block).
fn archive_end(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut offset = 0;
    let mut header = [0u8; BLOCK as usize];
    while offset + BLOCK <= len {
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut header)?;
        if header.iter().all(|b| *b == 0) {
            return Ok(offset);
        }
        let size = entry_size(&header).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a tar header at byte {offset}"),
            )
        })?;
        offset += BLOCK + size.div_ceil(BLOCK) * BLOCK;
    }
    Ok(len.min(offset))
}

/// The size field of a header: octal text, or base-256 when its first byte has the high
/// bit set.
fn entry_size(header: &[u8; BLOCK as usize]) -> Option<u64> {
    let field = &header[124..136];
    if field[0] & 0x80 != 0 {
        return field[1..]
            .iter()
            .try_fold(u64::from(field[0] & 0x7f), |acc, b| {
                acc.checked_mul(256)?.checked_add(u64::from(*b))
            });
    }
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::RemoteCommand;
    use crate::transport::LocalTransport;

    async fn tar_of(dir: &Path, files: &[(&str, &str)], out: &Path) {
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write");
        }
        let cmd = RemoteCommand::new("tar")
            .arg("-cf")
            .arg(out)
            .arg("-C")
            .arg(dir)
            .args(files.iter().map(|(n, _)| *n));
        LocalTransport::new().check_output(&cmd).await.expect("tar");
    }

    async fn listing(archive: &Path) -> Vec<String> {
        let cmd = RemoteCommand::new("tar").arg("-tf").arg(archive);
        let out = LocalTransport::new().check_output(&cmd).await.expect("tar");
        String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn appended_archives_list_as_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).expect("mkdir");
        std::fs::create_dir_all(&b).expect("mkdir");
        // A file whose content ends in zero bytes must not look like the archive's end.
        let zeros = format!("x{}", "\0".repeat(1500));
        tar_of(
            &a,
            &[("one", "1"), ("zeros", &zeros)],
            &dir.path().join("a.tar"),
        )
        .await;
        tar_of(&b, &[("two", "22")], &dir.path().join("b.tar")).await;
        append(&dir.path().join("a.tar"), &dir.path().join("b.tar")).expect("append");
        assert_eq!(
            listing(&dir.path().join("a.tar")).await,
            ["one", "zeros", "two"]
        );
    }

    #[test]
    fn sizes_parse_in_both_encodings() {
        let mut header = [0u8; 512];
        header[124..136].copy_from_slice(b"00000001750\0");
        assert_eq!(entry_size(&header), Some(1000));
        header[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00]);
        assert_eq!(entry_size(&header), Some(256));
        header[124..136].copy_from_slice(b"notoctal\0\0\0\0");
        assert_eq!(entry_size(&header), None);
    }
}
