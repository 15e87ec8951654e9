/*
 * kvbox bench: the C references, one file per object in one flat directory,
 * `threads` workers splitting the batch, each with one buffer it reuses.
 *
 *   odirect_ref put|get <dir> <object-bytes> <count> <threads>
 *     The device limit: O_DIRECT from/into a 2 MiB-aligned huge-page-advised
 *     buffer, the same durability as kvbox (temp file, fdatasync, rename,
 *     directory fsync).
 *   odirect_ref lmcache-put|lmcache-get <dir> <object-bytes> <count> <threads>
 *     What LMCache's native filesystem connector does, for the comparison
 *     users will make (see ../shared/context/MISSION.md): a buffered write to
 *     a temporary file and a rename — no fsync at all — and buffered reads.
 *
 * put writes objects <dir>/o<i>; get reads them back. Prints the elapsed
 * nanoseconds of the whole batch (threads started to threads joined).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ALIGN (2u << 20)
#define CHUNK (4u << 20)
#define BLOCK 4096u

static const char *dir;
static size_t size;
static int count, threads, do_put, lmcache;
static int next_index;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *what) {
  fprintf(stderr, "odirect_ref: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int take(void) {
  pthread_mutex_lock(&lock);
  int i = next_index < count ? next_index++ : -1;
  pthread_mutex_unlock(&lock);
  return i;
}

/* O_DIRECT: whole blocks from the aligned buffer, CHUNK at a time. */
static void put_direct(int dfd, const char *name, const char *tmp, char *buf) {
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0644);
  if (fd < 0) die("open temp");
  for (size_t off = 0; off < size; off += CHUNK) {
    size_t n = size - off < CHUNK ? size - off : CHUNK;
    size_t padded = (n + BLOCK - 1) / BLOCK * BLOCK;
    if (pwrite(fd, buf, padded, (off_t)off) != (ssize_t)padded) die("pwrite");
  }
  if (size % BLOCK && ftruncate(fd, (off_t)size)) die("ftruncate");
  if (fdatasync(fd)) die("fdatasync");
  close(fd);
  if (renameat(dfd, tmp, dfd, name)) die("rename");
  if (fsync(dfd)) die("fsync dir");
}

static void get_direct(int dfd, const char *name, char *buf) {
  int fd = openat(dfd, name, O_RDONLY | O_DIRECT);
  if (fd < 0) die("open");
  for (size_t off = 0; off < size; off += CHUNK) {
    size_t n = size - off < CHUNK ? size - off : CHUNK;
    size_t padded = (n + BLOCK - 1) / BLOCK * BLOCK;
    if (pread(fd, buf, padded, (off_t)off) < (ssize_t)n) die("pread");
  }
  close(fd);
}

/* Buffered: the whole object through the page cache, short transfers retried. */
static void transfer(int fd, char *buf, int write) {
  for (size_t off = 0; off < size;) {
    ssize_t n = write ? pwrite(fd, buf + off, size - off, (off_t)off) : pread(fd, buf + off, size - off, (off_t)off);
    if (n <= 0) die(write ? "pwrite" : "pread");
    off += (size_t)n;
  }
}

static void put_lmcache(int dfd, const char *name, const char *tmp, char *buf) {
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open temp");
  transfer(fd, buf, 1);
  close(fd);
  if (renameat(dfd, tmp, dfd, name)) die("rename");
}

static void get_lmcache(int dfd, const char *name, char *buf) {
  int fd = openat(dfd, name, O_RDONLY);
  if (fd < 0) die("open");
  transfer(fd, buf, 0);
  close(fd);
}

static void *worker(void *arg) {
  (void)arg;
  void *buf;
  if (lmcache) {
    if (!(buf = malloc(size ? size : 1))) die("malloc");
    memset(buf, 0x5a, size);
  } else {
    if (posix_memalign(&buf, ALIGN, CHUNK)) die("posix_memalign");
    madvise(buf, CHUNK, MADV_HUGEPAGE);
    memset(buf, 0x5a, CHUNK);
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) die("open dir");
  char name[64], tmp[80];
  for (int i; (i = take()) >= 0;) {
    snprintf(name, sizeof name, "o%d", i);
    snprintf(tmp, sizeof tmp, ".tmp-%d", i);
    if (do_put) (lmcache ? put_lmcache : put_direct)(dfd, name, tmp, buf);
    else (lmcache ? get_lmcache : get_direct)(dfd, name, buf);
  }
  close(dfd);
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: odirect_ref put|get|lmcache-put|lmcache-get <dir> <object-bytes> <count> <threads>\n");
    return 2;
  }
  const char *mode = argv[1];
  lmcache = strncmp(mode, "lmcache-", 8) == 0;
  if (lmcache) mode += 8;
  if (strcmp(mode, "put") && strcmp(mode, "get")) return 2;
  do_put = strcmp(mode, "put") == 0;
  dir = argv[2];
  size = strtoull(argv[3], NULL, 10);
  count = atoi(argv[4]);
  threads = atoi(argv[5]);
  pthread_t t[64];
  if (threads < 1 || threads > 64) return 2;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
  return 0;
}
