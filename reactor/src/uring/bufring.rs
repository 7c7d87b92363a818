//! The provided-buffer ring: receive buffers the kernel picks from, for multishot receives.
//!
//! A plain receive names its buffer at submission, so every socket waiting to read pins a
//! buffer of its own, and every read is a new submission. A *multishot* receive stays armed
//! and names no buffer: each time data arrives the kernel takes a free buffer from a ring we
//! registered (`IORING_REGISTER_PBUF_RING`, Linux 5.19), fills it, and posts a completion
//! carrying the buffer's id (`IORING_CQE_F_BUFFER`, id in the flags' upper 16 bits).
//!
//! The ring itself is an array of `{addr, len, bid}` entries shared with the kernel, plus a
//! 16-bit tail we advance to publish entries (the kernel keeps the head). Giving a buffer
//! back is writing an entry at `tail & mask` and advancing the tail with a release store.
//!
//! ringloop's use is deliberately simple: when a completion names a buffer, the reactor
//! copies the bytes out into a fresh `Vec` (the op's data) and gives the buffer back in the
//! same breath, under the state lock. So buffers never leave the reactor, a reader that does
//! not read cannot starve the others of buffers, and no buffer outlives the ring. The price
//! is one copy per completion (as large as the data); the gain is one submission per stream
//! instead of one per read, and no buffer pinned per idle socket. If many completions race
//! in before the reactor reaps them, the ring can run dry: the kernel ends those receives
//! with `ENOBUFS`, and their owners submit again.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

use crate::sys::{self, Syscall};

/// The buffer group id of the ring (one buffer ring per io_uring).
pub(crate) const BGID: u16 = 0;
/// Buffers in the ring (a power of two, at most 32768).
const ENTRIES: u16 = 256;
/// Bytes per buffer: a loopback TCP segment is up to 64 KiB, a typical message far less.
const BUF_SIZE: usize = 16 * 1024;

/// A registered provided-buffer ring and its buffers.
pub(crate) struct BufRing {
    /// The entry array shared with the kernel (an anonymous mapping, page aligned).
    entries: NonNull<BufRingEntry>,
    map_len: usize,
    /// `ENTRIES * BUF_SIZE` bytes the kernel writes into; only read through raw pointers
    /// (the kernel may be writing one buffer while we read another).
    bufs: NonNull<u8>,
    /// Our copy of the tail (the shared one is only stored to).
    tail: u16,
}

// SAFETY: the pointers are owned by this value (an mmap and a heap block nobody else frees);
// all access goes through `&mut self`, under the backend's state lock.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Maps, registers and fills a buffer ring for `ring`. An error means "no provided
    /// buffers here" (kernel older than 5.19, or out of memory): multishot receives are then
    /// refused and plain receives are used.
    pub(crate) fn new(ring: &IoUring) -> io::Result<BufRing> {
        let map_len = ENTRIES as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping: no file, no aliasing; checked for failure.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let entries = NonNull::new(addr.cast::<BufRingEntry>()).expect("mmap returned null");
        let layout = Self::layout();
        // SAFETY: the layout has a non-zero size. Zeroed memory is lazily mapped, so unused
        // buffers cost no resident memory.
        let bufs = match NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }) {
            Some(p) => p,
            None => {
                // SAFETY: `addr` is the mapping made above, of `map_len` bytes.
                unsafe { libc::munmap(addr, map_len) };
                return Err(io::ErrorKind::OutOfMemory.into());
            }
        };
        let mut this = BufRing {
            entries,
            map_len,
            bufs,
            tail: 0,
        };
        sys::call(Syscall::IoUringRegisterBufRing, || {
            // SAFETY: the entry array is `ENTRIES` entries of mapped memory that lives until
            // this value drops, which happens only after the ring is closed (`Uring::drop`).
            unsafe {
                ring.submitter()
                    .register_buf_ring_with_flags(addr as u64, ENTRIES, BGID, 0)
            }
        })?;
        for bid in 0..ENTRIES {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    fn layout() -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(ENTRIES as usize * BUF_SIZE, 4096)
            .expect("buffer ring layout")
    }

    /// Writes buffer `bid` into the next free entry (published by [`publish`](Self::publish)).
    fn push(&mut self, bid: u16) {
        let index = (self.tail & (ENTRIES - 1)) as usize;
        // SAFETY: `index < ENTRIES`, inside the mapping; the kernel only reads entries between
        // its head and our published tail, and this one is past the tail until `publish`.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        // SAFETY: `bid < ENTRIES`, so the buffer lies inside the `bufs` block.
        let addr = unsafe { self.bufs.as_ptr().add(bid as usize * BUF_SIZE) };
        entry.set_addr(addr as u64);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed entries visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field of the ring head lies inside the mapping (it overlays the
        // first entry's reserved field), is 2-byte aligned, and is only written by us.
        let tail = unsafe { &*BufRingEntry::tail(self.entries.as_ptr()).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    /// Copies the first `len` bytes of buffer `bid` (which a completion just handed us) and
    /// gives the buffer back to the kernel.
    pub(crate) fn take(&mut self, bid: u16, len: usize) -> Vec<u8> {
        if bid >= ENTRIES {
            debug_assert!(false, "buffer id {bid} out of range");
            return Vec::new();
        }
        let len = len.min(BUF_SIZE);
        // SAFETY: the completion passed buffer `bid` to us: the kernel wrote its `len` bytes
        // before posting it (the CQ read that gave us the completion orders them before this
        // read) and writes it no more until we give it back below.
        let data = unsafe {
            std::slice::from_raw_parts(self.bufs.as_ptr().add(bid as usize * BUF_SIZE), len)
        }
        .to_vec();
        self.push(bid);
        self.publish();
        data
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both were allocated in `new` with these sizes; the ring that used them is
        // closed by now (`Uring::drop` drops this after the ring), so the kernel holds no
        // reference into them.
        unsafe {
            libc::munmap(self.entries.as_ptr().cast(), self.map_len);
            std::alloc::dealloc(self.bufs.as_ptr(), Self::layout());
        }
    }
}
