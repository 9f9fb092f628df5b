//! The bundle file itself: a gzip-compressed tar of `manifest.json` and the
//! definition files, written in a fixed order with fixed metadata, and read
//! back with limits (entry count, entry size, total size) and path checks,
//! so a hostile archive can neither escape nor exhaust anything: nothing is
//! ever written to disk on reading.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::io::Read;

/// The manifest's path in the archive.
pub const MANIFEST: &str = "manifest.json";
/// Largest file in a bundle.
const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;
/// Largest bundle, unpacked.
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Most files in a bundle.
const MAX_ENTRIES: usize = 10_000;

/// Packs `entries` (path, bytes), in that order, into a `.tar.gz`; every
/// entry is a regular file of mode 0644 dated `mtime` (Unix seconds).
pub fn pack(entries: &[(&str, &[u8])], mtime: u64) -> std::io::Result<Vec<u8>> {
    let encoder = GzEncoder::new(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        builder.append_data(&mut header, path, *bytes)?;
    }
    builder.into_inner()?.finish()
}

/// The files of a `.tar.gz`, by path. Directories are skipped; any other
/// kind of entry (links, devices), an unsafe path (absolute, `..`), a
/// repeated path, or an archive over the limits is an error.
pub fn unpack(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| format!("not a .tar.gz bundle: {e}"))?;
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for entry in entries {
        let entry = entry.map_err(|e| format!("not a .tar.gz bundle: {e}"))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable path: {e}"))?
            .to_string_lossy()
            .into_owned();
        if !kind.is_file() {
            return Err(format!("{path}: only regular files belong in a bundle"));
        }
        check_path(&path)?;
        if files.len() >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} files"));
        }
        let mut data = Vec::new();
        entry
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("{path}: cannot read: {e}"))?;
        if data.len() as u64 > MAX_ENTRY_BYTES {
            return Err(format!("{path} is larger than {MAX_ENTRY_BYTES} bytes"));
        }
        total += data.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(format!(
                "the bundle unpacks to more than {MAX_TOTAL_BYTES} bytes"
            ));
        }
        let path = path.trim_start_matches("./").to_owned();
        if files.insert(path.clone(), data).is_some() {
            return Err(format!("{path} appears twice"));
        }
    }
    Ok(files)
}

/// A relative path of plain components.
pub fn check_path(path: &str) -> Result<(), String> {
    let trimmed = path.trim_start_matches("./");
    let bad = trimmed.is_empty()
        || trimmed.starts_with('/')
        || trimmed.contains('\\')
        || trimmed
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        Err(format!("{path:?} is not a plain relative path"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_packed_unpacks_the_same() {
        let packed = pack(
            &[("manifest.json", b"{}"), ("wf/a.workflow.yaml", b"id: a\n")],
            1_700_000_000,
        )
        .expect("pack");
        let files = unpack(&packed).expect("unpack");
        assert_eq!(files.len(), 2);
        assert_eq!(files["wf/a.workflow.yaml"], b"id: a\n");
        // The same input packs to the same bytes.
        let again = pack(
            &[("manifest.json", b"{}"), ("wf/a.workflow.yaml", b"id: a\n")],
            1_700_000_000,
        )
        .expect("pack");
        assert_eq!(packed, again);
    }

    #[test]
    fn unsafe_paths_and_garbage_are_refused() {
        for path in ["../x", "/etc/x", "a/../b", "a//b", "", "a\\b"] {
            assert!(check_path(path).is_err(), "{path}");
        }
        assert!(check_path("agents/a.agent.yaml").is_ok());
        assert!(unpack(b"not gzip at all").is_err());
        let packed = pack(&[("a", b"1"), ("a", b"2")], 0).expect("pack");
        assert!(unpack(&packed).expect_err("twice").contains("twice"));
    }

    #[test]
    fn an_oversized_entry_is_refused() {
        let big = vec![b'x'; (MAX_ENTRY_BYTES + 1) as usize];
        let packed = pack(&[("big.workflow.yaml", &big)], 0).expect("pack");
        assert!(unpack(&packed).expect_err("big").contains("larger"));
    }
}
