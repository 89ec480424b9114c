// powercut_shim.so: an LD_PRELOAD library that lets a test simulate a power
// cut on a process that writes files under $POWERCUT_DIR. Before every write
// to such a file it appends the bytes it is about to overwrite (the
// pre-image) to $POWERCUT_LOG, with whether the write is durable when it
// returns (the fd was opened O_DSYNC or O_SYNC), and it logs every fsync /
// fdatasync of such a file (all earlier writes of the file are then
// durable). After the test SIGKILLs the process, powercut_restore (in
// powercut.h) puts back the pre-images of a random subset of the writes
// that were not durable, and may tear the newest at a 512-byte boundary:
// the disk as a power cut could leave it.
//
// It sees writes made through libc (pwrite, write, pwritev, writev), which
// is how LMDB and the snapshot files write. io_uring writes bypass it: the
// tests that use it write the journal with pwrite on the same O_DSYNC fds.
//
// Log record (native endianness, one process): u8 kind, u8 flag, u16 path
// length, u32 length, u64 offset, u64 old file size, path bytes, then for
// 'W' `length` pre-image bytes (beyond the old end of file: zeros).
//   'W' a write is about to be made; flag: the fd is O_DSYNC/O_SYNC.
//   'D' that write (the path's last 'W') returned `length` bytes on such an
//       fd: it is durable. A 'W' without its 'D' was in flight at the kill.
//   'S' an fsync/fdatasync of the path returned; `offset` is the number of
//       'W' records logged before it started: those are durable.
// Writes to tracked files are serialized (one mutex held across the real
// call), so a 'D' follows its 'W' directly for that path.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 4096

static char g_dir[PATH_MAX];
static size_t g_dir_len;
static int g_log = -1;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char* g_path[MAX_FDS];  // Tracked fds: their path.
static int g_durable[MAX_FDS];
static uint64_t g_writes;  // 'W' records logged.

static void init(void) __attribute__((constructor));
static void init(void) {
  const char* dir = getenv("POWERCUT_DIR");
  const char* log = getenv("POWERCUT_LOG");
  if (dir == NULL || log == NULL) return;
  if (realpath(dir, g_dir) == NULL) return;
  g_dir_len = strlen(g_dir);
  g_log = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void log_bytes(const void* p, size_t n) {
  const char* c = (const char*)p;
  while (n > 0) {
    ssize_t w = syscall(SYS_write, g_log, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) abort();  // The test's log must not lose anything.
    c += w;
    n -= (size_t)w;
  }
}

static void log_header(char kind, int durable, const char* path, uint32_t len, uint64_t off,
                       uint64_t old_size) {
  uint8_t k = (uint8_t)kind, d = (uint8_t)durable;
  uint16_t pl = (uint16_t)strlen(path);
  log_bytes(&k, 1);
  log_bytes(&d, 1);
  log_bytes(&pl, 2);
  log_bytes(&len, 4);
  log_bytes(&off, 8);
  log_bytes(&old_size, 8);
  log_bytes(path, pl);
}

static void track(int fd, const char* path, int flags) {
  if (g_log < 0 || fd < 0 || fd >= MAX_FDS) return;
  char full[PATH_MAX];
  if (realpath(path, full) == NULL) return;
  if (strncmp(full, g_dir, g_dir_len) != 0 || (full[g_dir_len] != '/' && full[g_dir_len] != 0)) {
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  pthread_mutex_lock(&g_mu);
  free(g_path[fd]);
  g_path[fd] = strdup(full);
  g_durable[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
  pthread_mutex_unlock(&g_mu);
}

// Logs the pre-image of [off, off + len) of fd's file. Caller holds g_mu.
static void pre_image(int fd, uint64_t off, size_t len) {
  struct stat st;
  uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  log_header('W', g_durable[fd], g_path[fd], (uint32_t)len, off, size);
  ++g_writes;
  char buf[65536];
  size_t done = 0;
  while (done < len) {
    size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
    memset(buf, 0, n);
    if (off + done < size) {
      ssize_t r = syscall(SYS_pread64, fd, buf, n, (off_t)(off + done));
      (void)r;  // Short reads past the end leave zeros.
    }
    log_bytes(buf, n);
    done += n;
  }
}

// After the real write, caller holding g_mu.
static void done(int fd, ssize_t r) {
  if (g_durable[fd] && r > 0) log_header('D', 1, g_path[fd], (uint32_t)r, 0, 0);
}

static int tracked(int fd) { return g_log >= 0 && fd >= 0 && fd < MAX_FDS && g_path[fd] != NULL; }

#define REAL(name, ret, ...)              \
  static ret (*real_##name)(__VA_ARGS__); \
  if (real_##name == NULL) *(void**)(&real_##name) = dlsym(RTLD_NEXT, #name)

int open(const char* path, int flags, ...) {
  REAL(open, int, const char*, int, ...);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  int fd = real_open(path, flags, mode);
  track(fd, path, flags);
  return fd;
}
int open64(const char* path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char* path, int flags, ...) {
  REAL(openat, int, int, const char*, int, ...);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  int fd = real_openat(dirfd, path, flags, mode);
  if (dirfd == AT_FDCWD || path[0] == '/') track(fd, path, flags);
  return fd;
}
int openat64(int dirfd, const char* path, int flags, ...) __attribute__((alias("openat")));

int close(int fd) {
  REAL(close, int, int);
  if (g_log >= 0 && fd >= 0 && fd < MAX_FDS) {
    pthread_mutex_lock(&g_mu);
    free(g_path[fd]);
    g_path[fd] = NULL;
    pthread_mutex_unlock(&g_mu);
  }
  return real_close(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite, ssize_t, int, const void*, size_t, off_t);
  if (!tracked(fd)) return real_pwrite(fd, buf, n, off);
  pthread_mutex_lock(&g_mu);
  pre_image(fd, (uint64_t)off, n);
  ssize_t r = real_pwrite(fd, buf, n, off);
  done(fd, r);
  pthread_mutex_unlock(&g_mu);
  return r;
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) __attribute__((alias("pwrite")));

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write, ssize_t, int, const void*, size_t);
  if (!tracked(fd)) return real_write(fd, buf, n);
  pthread_mutex_lock(&g_mu);
  off_t off = lseek(fd, 0, SEEK_CUR);
  pre_image(fd, (uint64_t)off, n);
  ssize_t r = real_write(fd, buf, n);
  done(fd, r);
  pthread_mutex_unlock(&g_mu);
  return r;
}

static size_t iov_bytes(const struct iovec* iov, int cnt) {
  size_t n = 0;
  for (int i = 0; i < cnt; ++i) n += iov[i].iov_len;
  return n;
}

ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  REAL(pwritev, ssize_t, int, const struct iovec*, int, off_t);
  if (!tracked(fd)) return real_pwritev(fd, iov, cnt, off);
  pthread_mutex_lock(&g_mu);
  pre_image(fd, (uint64_t)off, iov_bytes(iov, cnt));
  ssize_t r = real_pwritev(fd, iov, cnt, off);
  done(fd, r);
  pthread_mutex_unlock(&g_mu);
  return r;
}
ssize_t pwritev64(int fd, const struct iovec* iov, int cnt, off_t off)
    __attribute__((alias("pwritev")));

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  REAL(writev, ssize_t, int, const struct iovec*, int);
  if (!tracked(fd)) return real_writev(fd, iov, cnt);
  pthread_mutex_lock(&g_mu);
  off_t off = lseek(fd, 0, SEEK_CUR);
  pre_image(fd, (uint64_t)off, iov_bytes(iov, cnt));
  ssize_t r = real_writev(fd, iov, cnt);
  done(fd, r);
  pthread_mutex_unlock(&g_mu);
  return r;
}

static uint64_t writes_so_far(void) {
  pthread_mutex_lock(&g_mu);
  uint64_t n = g_writes;
  pthread_mutex_unlock(&g_mu);
  return n;
}

static int synced(int fd, int rc, uint64_t before) {
  if (rc == 0 && tracked(fd)) {
    pthread_mutex_lock(&g_mu);
    if (g_path[fd] != NULL) log_header('S', 1, g_path[fd], 0, before, 0);
    pthread_mutex_unlock(&g_mu);
  }
  return rc;
}

int fsync(int fd) {
  REAL(fsync, int, int);
  uint64_t before = writes_so_far();
  return synced(fd, real_fsync(fd), before);
}

int fdatasync(int fd) {
  REAL(fdatasync, int, int);
  uint64_t before = writes_so_far();
  return synced(fd, real_fdatasync(fd), before);
}
