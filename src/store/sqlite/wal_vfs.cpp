#include "store/sqlite/wal_vfs.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace ig::store::detail {

namespace {

// Our file, followed in the same allocation by the default VFS's own file (`real`).
struct WalFile {
  sqlite3_file base;  // first: SQLite sees a WalFile as a sqlite3_file
  sqlite3_file* real;
  bool wal;  // a WAL whose writes are gathered
  char* buf;                 // sqlite3_malloc64'd, `cap` bytes; null until the first write
  sqlite3_uint64 cap;
  sqlite3_uint64 len;        // bytes held, to be written at `start`
  sqlite3_int64 start;
  // A database file's WAL while both are open, and a WAL's database file: the WAL's buffer is
  // emptied before the database's connection lets go of the WAL write lock.
  WalFile* paired;
};
// The default VFS's xWrite takes at most 128 KiB - 1 bytes a call (os_unix.c masks the
// length with 0x1ffff and reports the rest as a full disk), so a longer buffer goes in pieces.
constexpr sqlite3_uint64 kWriteChunk = 124 * 1024;
// WAL_WRITE_LOCK of wal.c: the first of the wal-index's locks, held through a write
// transaction.
constexpr int kWalWriteLock = 0;
constexpr int kWalFileBytes = static_cast<int>((sizeof(WalFile) + 15) & ~std::size_t{15});

sqlite3_vfs* g_root = nullptr;  // the default VFS, which does all the work
sqlite3_vfs g_vfs;
std::atomic<unsigned long long> g_flushes{0};
std::atomic<unsigned long long> g_gathered{0};

WalFile* self(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
const sqlite3_io_methods& real_methods(WalFile* f) { return *f->real->pMethods; }

int flush(WalFile* f) {
  if (f->len == 0) {
    return SQLITE_OK;
  }
  // What failed to reach the file is dropped with the error: SQLite then fails the write or
  // the commit that needed it, and frames no commit covers are never read.
  int rc = SQLITE_OK;
  for (sqlite3_uint64 done = 0; done < f->len && rc == SQLITE_OK; done += kWriteChunk) {
    const sqlite3_uint64 n = std::min<sqlite3_uint64>(kWriteChunk, f->len - done);
    rc = real_methods(f).xWrite(f->real, f->buf + done, static_cast<int>(n),
                                f->start + static_cast<sqlite3_int64>(done));
    g_flushes.fetch_add(1, std::memory_order_relaxed);
  }
  f->len = 0;
  return rc;
}

// Room for `amt` bytes in the buffer, growing it up to kWalBufferBytes. False: no room (the
// caller writes directly).
bool reserve(WalFile* f, sqlite3_uint64 amt) {
  if (f->len + amt <= f->cap) {
    return true;
  }
  if (f->len + amt > kWalBufferBytes) {
    return false;
  }
  sqlite3_uint64 cap = std::max<sqlite3_uint64>(f->cap * 2, 256 * 1024);
  cap = std::clamp<sqlite3_uint64>(cap, f->len + amt, kWalBufferBytes);
  void* grown = sqlite3_realloc64(f->buf, cap);
  if (grown == nullptr) {
    return false;
  }
  f->buf = static_cast<char*>(grown);
  f->cap = cap;
  return true;
}

// --- io methods

int x_close(sqlite3_file* file) {
  WalFile* f = self(file);
  if (f->paired != nullptr) {
    // Unpaired. A database closed before its WAL (SQLite closes the WAL first) leaves the WAL
    // writing straight through from here on, with nothing held.
    flush(f->paired);
    f->paired->wal = false;
    f->paired->paired = nullptr;
  }
  const int flushed = flush(f);
  sqlite3_free(f->buf);
  f->buf = nullptr;
  f->cap = 0;
  const int rc = real_methods(f).xClose(f->real);
  return flushed != SQLITE_OK ? flushed : rc;
}

int x_read(sqlite3_file* file, void* out, int amt, sqlite3_int64 off) {
  WalFile* f = self(file);
  if (int rc = flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(f).xRead(f->real, out, amt, off);
}

int x_write(sqlite3_file* file, const void* data, int amt, sqlite3_int64 off) {
  WalFile* f = self(file);
  if (!f->wal || amt <= 0) {
    return real_methods(f).xWrite(f->real, data, amt, off);
  }
  const auto n = static_cast<sqlite3_uint64>(amt);
  if (f->len > 0) {
    const sqlite3_int64 end = f->start + static_cast<sqlite3_int64>(f->len);
    if (off >= f->start && off + amt <= end) {  // a frame rewritten while still held
      std::memcpy(f->buf + (off - f->start), data, n);
      g_gathered.fetch_add(1, std::memory_order_relaxed);
      return SQLITE_OK;
    }
    if (off == end && reserve(f, n)) {  // the next frame
      std::memcpy(f->buf + f->len, data, n);
      f->len += n;
      g_gathered.fetch_add(1, std::memory_order_relaxed);
      return SQLITE_OK;
    }
  }
  // Elsewhere in the file, or no room: what is held goes first, so writes reach the file in
  // the order SQLite made them.
  if (int rc = flush(f); rc != SQLITE_OK) {
    return rc;
  }
  if (!reserve(f, n)) {
    return real_methods(f).xWrite(f->real, data, amt, off);
  }
  std::memcpy(f->buf, data, n);
  f->len = n;
  f->start = off;
  g_gathered.fetch_add(1, std::memory_order_relaxed);
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  WalFile* f = self(file);
  if (int rc = flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(f).xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  WalFile* f = self(file);
  if (int rc = flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(f).xSync(f->real, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  WalFile* f = self(file);
  if (int rc = flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(f).xFileSize(f->real, size);
}

int x_lock(sqlite3_file* file, int level) {
  return real_methods(self(file)).xLock(self(file)->real, level);
}
int x_unlock(sqlite3_file* file, int level) {
  return real_methods(self(file)).xUnlock(self(file)->real, level);
}
int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return real_methods(self(file)).xCheckReservedLock(self(file)->real, out);
}
int x_file_control(sqlite3_file* file, int op, void* arg) {
  WalFile* f = self(file);
  // Some act on the file (a size hint extends it): what is held goes first. Rare on a WAL.
  if (int rc = flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(f).xFileControl(f->real, op, arg);
}
int x_sector_size(sqlite3_file* file) {
  return real_methods(self(file)).xSectorSize(self(file)->real);
}
int x_device_characteristics(sqlite3_file* file) {
  return real_methods(self(file)).xDeviceCharacteristics(self(file)->real);
}
int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  const auto& m = real_methods(self(file));
  if (m.iVersion < 2 || m.xShmMap == nullptr) {
    return SQLITE_IOERR_SHMMAP;
  }
  return m.xShmMap(self(file)->real, region, size, extend, out);
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  WalFile* f = self(file);
  const auto& m = real_methods(f);
  if (m.iVersion < 2 || m.xShmLock == nullptr) {
    return SQLITE_IOERR_SHMLOCK;
  }
  if (f->paired != nullptr && f->paired->wal &&
      flags == (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE) &&
      offset <= kWalWriteLock && kWalWriteLock < offset + n) {
    // The write transaction is over. A commit's frames went out at its sync; a rolled-back
    // one's may still be here, and once another connection may write the WAL they must not
    // reach the file after its frames. They go now, as SQLite itself would have written them
    // (a failure loses only frames no commit covers).
    flush(f->paired);
  }
  return m.xShmLock(self(file)->real, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* file) {
  const auto& m = real_methods(self(file));
  if (m.iVersion >= 2 && m.xShmBarrier != nullptr) {
    m.xShmBarrier(self(file)->real);
  }
}
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  const auto& m = real_methods(self(file));
  if (m.iVersion < 2 || m.xShmUnmap == nullptr) {
    return SQLITE_OK;
  }
  return m.xShmUnmap(self(file)->real, delete_flag);
}
int x_fetch(sqlite3_file* file, sqlite3_int64 off, int amt, void** out) {
  const auto& m = real_methods(self(file));
  if (m.iVersion < 3 || m.xFetch == nullptr) {
    *out = nullptr;  // "read it instead"
    return SQLITE_OK;
  }
  return m.xFetch(self(file)->real, off, amt, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 off, void* p) {
  const auto& m = real_methods(self(file));
  if (m.iVersion < 3 || m.xUnfetch == nullptr) {
    return SQLITE_OK;
  }
  return m.xUnfetch(self(file)->real, off, p);
}

constexpr sqlite3_io_methods kMethods = {
    3,          x_close,       x_read,         x_write,       x_truncate,
    x_sync,     x_file_size,   x_lock,         x_unlock,      x_check_reserved_lock,
    x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock,
    x_shm_barrier, x_shm_unmap, x_fetch,      x_unfetch,
};

// --- vfs methods: the default VFS's, except xOpen

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  WalFile* f = self(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kWalFileBytes);
  f->real->pMethods = nullptr;
  f->wal = false;  // set below, once the WAL is paired with its database
  f->buf = nullptr;
  f->cap = 0;
  f->len = 0;
  f->start = 0;
  f->paired = nullptr;
  const int rc = g_root->xOpen(g_root, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    return rc;  // the default VFS leaves its pMethods null on failure, and so do we
  }
  f->base.pMethods = &kMethods;
  if ((flags & SQLITE_OPEN_WAL) != 0 && name != nullptr) {
    // Opened by the pager of a database opened through this VFS. Without that database's
    // locks to watch, the WAL is written as SQLite writes it.
    sqlite3_file* db = sqlite3_database_file_object(name);
    if (db != nullptr && db->pMethods == &kMethods && self(db)->paired == nullptr) {
      f->wal = true;
      f->paired = self(db);
      f->paired->paired = f;
    }
  }
  return SQLITE_OK;
}
int v_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_root->xDelete(g_root, name, sync_dir);
}
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_root->xAccess(g_root, name, flags, out);
}
int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_root->xFullPathname(g_root, name, n, out);
}
void* v_dl_open(sqlite3_vfs*, const char* name) { return g_root->xDlOpen(g_root, name); }
void v_dl_error(sqlite3_vfs*, int n, char* out) { g_root->xDlError(g_root, n, out); }
void (*v_dl_sym(sqlite3_vfs*, void* lib, const char* sym))(void) {
  return g_root->xDlSym(g_root, lib, sym);
}
void v_dl_close(sqlite3_vfs*, void* lib) { g_root->xDlClose(g_root, lib); }
int v_randomness(sqlite3_vfs*, int n, char* out) { return g_root->xRandomness(g_root, n, out); }
int v_sleep(sqlite3_vfs*, int us) { return g_root->xSleep(g_root, us); }
int v_current_time(sqlite3_vfs*, double* out) { return g_root->xCurrentTime(g_root, out); }
int v_get_last_error(sqlite3_vfs*, int n, char* out) {
  return g_root->xGetLastError(g_root, n, out);
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_root->xCurrentTimeInt64(g_root, out);
}
int v_set_system_call(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return g_root->xSetSystemCall(g_root, name, p);
}
sqlite3_syscall_ptr v_get_system_call(sqlite3_vfs*, const char* name) {
  return g_root->xGetSystemCall(g_root, name);
}
const char* v_next_system_call(sqlite3_vfs*, const char* name) {
  return g_root->xNextSystemCall(g_root, name);
}

}  // namespace

const char* gathering_wal_vfs() {
  static const char* name = [] () -> const char* {
    g_root = sqlite3_vfs_find(nullptr);
    // Version 3 has every method this one forwards (os_unix.c's VFSes all are).
    if (g_root == nullptr || g_root->iVersion < 3 || g_root->xGetLastError == nullptr) {
      spdlog::warn("store: the default SQLite VFS cannot be wrapped; WAL writes are not gathered");
      return nullptr;
    }
    g_vfs = sqlite3_vfs{};
    g_vfs.iVersion = 3;
    g_vfs.szOsFile = kWalFileBytes + g_root->szOsFile;
    g_vfs.mxPathname = g_root->mxPathname;
    g_vfs.zName = "imagegate-wal";
    g_vfs.xOpen = v_open;
    g_vfs.xDelete = v_delete;
    g_vfs.xAccess = v_access;
    g_vfs.xFullPathname = v_full_pathname;
    g_vfs.xDlOpen = v_dl_open;
    g_vfs.xDlError = v_dl_error;
    g_vfs.xDlSym = v_dl_sym;
    g_vfs.xDlClose = v_dl_close;
    g_vfs.xRandomness = v_randomness;
    g_vfs.xSleep = v_sleep;
    g_vfs.xCurrentTime = v_current_time;
    g_vfs.xGetLastError = v_get_last_error;
    g_vfs.xCurrentTimeInt64 = v_current_time_int64;
    g_vfs.xSetSystemCall = v_set_system_call;
    g_vfs.xGetSystemCall = v_get_system_call;
    g_vfs.xNextSystemCall = v_next_system_call;
    if (int rc = sqlite3_vfs_register(&g_vfs, 0); rc != SQLITE_OK) {
      spdlog::warn("store: registering the WAL-gathering VFS failed (sqlite code {})", rc);
      return nullptr;
    }
    return g_vfs.zName;
  }();
  return name;
}

WalVfsCounters wal_vfs_counters() {
  return {g_flushes.load(std::memory_order_relaxed), g_gathered.load(std::memory_order_relaxed)};
}

}  // namespace ig::store::detail
