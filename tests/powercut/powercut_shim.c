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
// is how LMDB and the snapshot files write, and IORING_OP_WRITE requests
// submitted through liburing's shared library (the shard's journal writes):
// io_uring_submit* log the pre-image of each pending write SQE on a tracked
// fd before the kernel sees it, and io_uring_peek_batch_cqe (how the
// reactor reaps) logs its completion. A write is durable once it completed
// on an O_DSYNC/O_SYNC fd or with RWF_DSYNC/RWF_SYNC.
//
// Log record (native endianness, one process): u8 kind, u8 flag, u16 path
// length, u32 length, u64 offset, u64 old file size, path bytes, then for
// 'W' `length` pre-image bytes (beyond the old end of file: zeros).
//   'W' a write is about to be made; flag bit 0: durable once it completes
//       (O_DSYNC/O_SYNC fd, RWF_DSYNC), bit 1: an io_uring request.
//   'D' the path's newest write at `offset` completed with `length` bytes
//       on such an fd: it is durable. A 'W' without its 'D' was in flight
//       at the kill.
//   'S' an fsync/fdatasync of the path returned; `offset` is the number of
//       'W' records logged before it started: those are durable.
// Writes to tracked files through libc are serialized (one mutex held
// across the real call).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
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
  if (realpath(dir, g_dir) == NULL) {
    fprintf(stderr, "powercut_shim: POWERCUT_DIR %s: %s\n", dir, strerror(errno));
    abort();  // A test that thinks it cuts power must not run unwatched.
  }
  g_dir_len = strlen(g_dir);
  g_log = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (g_log < 0) {
    fprintf(stderr, "powercut_shim: POWERCUT_LOG %s: %s\n", log, strerror(errno));
    abort();
  }
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
static void pre_image_flags(int fd, uint64_t off, size_t len, int flags) {
  struct stat st;
  uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  log_header('W', flags, g_path[fd], (uint32_t)len, off, size);
  ++g_writes;
  // An O_DIRECT fd reads only into aligned buffers: read through our own.
  int rfd = fd;
  if (fcntl(fd, F_GETFL) & O_DIRECT) {
    rfd = (int)syscall(SYS_openat, AT_FDCWD, g_path[fd], O_RDONLY | O_CLOEXEC);
    if (rfd < 0) abort();
  }
  char buf[65536];
  size_t done = 0;
  while (done < len) {
    size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
    memset(buf, 0, n);
    if (off + done < size) {
      ssize_t r = syscall(SYS_pread64, rfd, buf, n, (off_t)(off + done));
      if (r < 0) abort();  // A wrong pre-image would make the cut lie.
      // Short reads past the end leave zeros.
    }
    log_bytes(buf, n);
    done += n;
  }
  if (rfd != fd) syscall(SYS_close, rfd);
}

// After the real write, caller holding g_mu.
static void done_at(const char* path, uint64_t off, ssize_t r) {
  if (r > 0) log_header('D', 1, path, (uint32_t)r, off, 0);
}
static void done(int fd, uint64_t off, ssize_t r) {
  if (g_durable[fd]) done_at(g_path[fd], off, r);
}

static void pre_image(int fd, uint64_t off, size_t len) {
  pre_image_flags(fd, off, len, g_durable[fd]);
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
  done(fd, (uint64_t)off, r);
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
  done(fd, (uint64_t)off, r);
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
  done(fd, (uint64_t)off, r);
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
  done(fd, (uint64_t)off, r);
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

// ------------------------------------------------------------ io_uring

#define MAX_URING_WRITES 256

// Write requests submitted and not yet reaped, by user_data.
static struct {
  uint64_t user_data;
  uint64_t offset;
  int durable;
  char* path;
} g_uring[MAX_URING_WRITES];

// Before the kernel sees them: the pending SQEs of `ring` (between
// sqe_head and sqe_tail) that write a tracked fd.
static void scan_sqes(struct io_uring* ring) {
  if (g_log < 0) return;
  pthread_mutex_lock(&g_mu);
  for (unsigned i = ring->sq.sqe_head; i != ring->sq.sqe_tail; ++i) {
    struct io_uring_sqe* sqe = &ring->sq.sqes[i & *ring->sq.kring_mask];
    if (sqe->opcode != IORING_OP_WRITE || (sqe->flags & IOSQE_FIXED_FILE)) continue;
    int fd = sqe->fd;
    if (!tracked(fd)) continue;
    int durable = g_durable[fd] || (sqe->rw_flags & (RWF_DSYNC | RWF_SYNC)) != 0;
    pre_image_flags(fd, sqe->off, sqe->len, durable | 2);
    int slot = -1;
    for (int k = 0; k < MAX_URING_WRITES; ++k) {
      if (g_uring[k].path == NULL) {
        slot = k;
        break;
      }
    }
    if (slot < 0) abort();  // More writes in flight than this test shim expects.
    g_uring[slot].user_data = sqe->user_data;
    g_uring[slot].offset = sqe->off;
    g_uring[slot].durable = durable;
    g_uring[slot].path = strdup(g_path[fd]);
  }
  pthread_mutex_unlock(&g_mu);
}

int io_uring_submit(struct io_uring* ring) {
  REAL(io_uring_submit, int, struct io_uring*);
  scan_sqes(ring);
  return real_io_uring_submit(ring);
}

int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
  REAL(io_uring_submit_and_wait, int, struct io_uring*, unsigned);
  scan_sqes(ring);
  return real_io_uring_submit_and_wait(ring, wait_nr);
}

int io_uring_submit_and_get_events(struct io_uring* ring) {
  REAL(io_uring_submit_and_get_events, int, struct io_uring*);
  scan_sqes(ring);
  return real_io_uring_submit_and_get_events(ring);
}

int io_uring_submit_and_wait_timeout(struct io_uring* ring, struct io_uring_cqe** cqe_ptr,
                                     unsigned wait_nr, struct __kernel_timespec* ts,
                                     sigset_t* sigmask) {
  REAL(io_uring_submit_and_wait_timeout, int, struct io_uring*, struct io_uring_cqe**, unsigned,
       struct __kernel_timespec*, sigset_t*);
  scan_sqes(ring);
  return real_io_uring_submit_and_wait_timeout(ring, cqe_ptr, wait_nr, ts, sigmask);
}

unsigned io_uring_peek_batch_cqe(struct io_uring* ring, struct io_uring_cqe** cqes,
                                 unsigned count) {
  REAL(io_uring_peek_batch_cqe, unsigned, struct io_uring*, struct io_uring_cqe**, unsigned);
  unsigned n = real_io_uring_peek_batch_cqe(ring, cqes, count);
  if (g_log < 0 || n == 0) return n;
  pthread_mutex_lock(&g_mu);
  for (unsigned i = 0; i < n; ++i) {
    for (int k = 0; k < MAX_URING_WRITES; ++k) {
      if (g_uring[k].path == NULL || g_uring[k].user_data != cqes[i]->user_data) continue;
      if (g_uring[k].durable) done_at(g_uring[k].path, g_uring[k].offset, cqes[i]->res);
      free(g_uring[k].path);
      g_uring[k].path = NULL;
      break;
    }
  }
  pthread_mutex_unlock(&g_mu);
  return n;
}
