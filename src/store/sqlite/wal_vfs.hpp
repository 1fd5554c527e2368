#pragma once

// Private to the SQLite store: a VFS for the writer's connection that gathers a commit's WAL
// writes into one pwrite.
//
// SQLite writes each WAL frame as two pwrite calls (the 24-byte frame header, then the page),
// so a commit touching 28 pages costs 56 system calls before its fdatasync. This VFS wraps
// the platform's default one ("unix") and changes one thing: writes to a WAL file that continue
// the previous one are appended to a buffer in memory, and the buffer goes to the file in one
// pwrite before anything that must see it:
// - xSync (the commit's fdatasync),
// - a write elsewhere in the file (SQLite rewrites a frame in place),
// - xRead, xFileSize, xTruncate, xFileControl and xClose,
// - the release of the WAL write lock (through the database file's xShmLock): a transaction
//   that rolled back may leave frames held, and once another connection may write the WAL
//   they must not reach the file after its frames,
// - or when the buffer reaches kWalBufferBytes.
// Every other file, and every other method, is the default VFS's own. A WAL is gathered only
// when the database it belongs to was opened through this VFS too (its locks are watched).
//
// Safe only where each commit syncs the WAL: SQLite publishes a commit to readers (the
// wal-index header) after its xSync, so with `synchronous = FULL` a reader never looks at a
// frame still in the buffer. With NORMAL there is no sync at commit and a reader could; the
// store opens its writer through this VFS only with FULL. A crash loses only what no commit
// covered, as it would between SQLite's own pwrite calls.

#include <cstddef>

namespace ig::store::detail {

/// The largest buffer of one WAL file; a longer run of writes goes out in pieces this size.
inline constexpr std::size_t kWalBufferBytes = std::size_t{4} << 20;

/// The name to pass to sqlite3_open_v2 for this VFS, registered (not as the default) on the
/// first call. Null if the default VFS is missing or registration failed: open with the
/// default VFS then.
const char* gathering_wal_vfs();

/// pwrite calls this process's WAL buffers have made, and writes they gathered (for tests).
struct WalVfsCounters {
  unsigned long long flushes;
  unsigned long long writes_gathered;
};
WalVfsCounters wal_vfs_counters();

}  // namespace ig::store::detail
