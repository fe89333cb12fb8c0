//! [`BlobSync`]: makes the blob files sled writes outside its log durable.

use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;

/// The blob files of sled's store directory that the syncer has already made durable.
///
/// sled names each blob after the log sequence number of its item and removes it once the item
/// is rewritten; a round with no new blob costs one read of a (usually empty) directory.
pub(crate) struct BlobSync {
    dir: PathBuf,
    synced: HashSet<std::ffi::OsString>,
}

impl BlobSync {
    pub(crate) fn new(dir: PathBuf) -> Self {
        BlobSync {
            dir,
            synced: HashSet::new(),
        }
    }

    /// Fsyncs every blob file not synced before, then the directory that names them; answers
    /// how many there were.
    pub(crate) fn sync_new(&mut self) -> std::io::Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut present = HashSet::new();
        let mut synced = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !self.synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_all()?,
                    // Removed by sled between the listing and the open: nothing to keep.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                synced += 1;
            }
            present.insert(name);
        }
        if synced > 0 {
            File::open(&self.dir)?.sync_all()?;
        }
        self.synced = present;
        Ok(synced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_sync_fsyncs_each_new_blob_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut blobs = BlobSync::new(dir.path().join("blobs"));
        assert_eq!(blobs.sync_new().expect("no directory yet"), 0);
        std::fs::create_dir(dir.path().join("blobs")).expect("mkdir");
        for name in ["17", "42"] {
            std::fs::write(dir.path().join("blobs").join(name), b"x").expect("write");
        }
        assert_eq!(blobs.sync_new().expect("sync"), 2);
        assert_eq!(blobs.sync_new().expect("sync"), 0, "nothing new");
        std::fs::remove_file(dir.path().join("blobs/17")).expect("rm");
        std::fs::write(dir.path().join("blobs/99"), b"y").expect("write");
        assert_eq!(blobs.sync_new().expect("sync"), 1, "only the new one");
    }
}
