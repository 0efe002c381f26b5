//! Starting a file's writeback without waiting for it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Starts writing a file's dirty pages to the disk and returns without
/// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Called on every file
/// of a change before the first fsync, the filesystem allocates all their
/// blocks in one journal transaction, so that the first fsync commits them
/// all and the following ones find little or nothing left to do. It gives
/// no durability by itself: an fsync must follow.
pub fn start(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: sync_file_range takes a descriptor we borrow for the call and
    // plain integers; it touches no memory of ours.
    let r = unsafe { libc::sync_file_range(fd.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
