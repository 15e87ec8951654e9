/*
 * What the memory behind a buffer costs O_DIRECT here, without kvbox
 * (`npm run bench:pages`; docs/benchmarks.md, "Straight from huge pages").
 *
 *   pages <dir> <MiB> <objects>
 *
 * 1. Cold O_DIRECT reads of <objects> files of <MiB>, the ways interleaved
 *    object by object: straight into a huge-page buffer (2 MiB-aligned,
 *    MADV_HUGEPAGE: what kvbox's allocBuffer and large allocations are);
 *    through a huge-page bounce buffer plus a copy into a 4 KiB-page buffer
 *    (what kvbox did for every allocating get); straight into an aligned
 *    4 KiB-page buffer.
 * 2. Durable writes (O_DIRECT + fdatasync) the same three ways.
 * 3. First touch of 64 fresh 2 MiB huge pages in this process, then of 64
 *    more after the first were unmapped (reused), and of 4 KiB pages.
 *
 * Prints µs per object (1, 2) and per 2 MiB (3). Linux only.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HUGE (2ul << 20)
#define CHUNK (4ul << 20)

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* `size` bytes (rounded up to 2 MiB), 2 MiB-aligned, advised as `advice`, touched. */
static char *buffer(size_t size, int advice) {
  size_t len = (size + HUGE - 1) / HUGE * HUGE;
  void *p;
  if (posix_memalign(&p, HUGE, len)) die("posix_memalign");
  madvise(p, len, advice);
  memset(p, 1, len);
  return p;
}

static int open_at(const char *dir, int i, int flags) {
  char path[4096];
  snprintf(path, sizeof path, "%s/o%d", dir, i);
  int fd = open(path, flags | O_DIRECT, 0644);
  if (fd < 0) die("open");
  return fd;
}

static void transfer(int write, int fd, char *mem, size_t size) {
  ssize_t n = write ? pwrite(fd, mem, size, 0) : pread(fd, mem, size, 0);
  if (n != (ssize_t)size) die(write ? "pwrite" : "pread");
}

/* Through the bounce buffer, CHUNK at a time, copying to or from `mem`. */
static void bounced(int write, int fd, char *bounce, char *mem, size_t size) {
  for (size_t off = 0; off < size; off += CHUNK) {
    size_t n = size - off < CHUNK ? size - off : CHUNK;
    if (write) memcpy(bounce, mem + off, n);
    ssize_t got = write ? pwrite(fd, bounce, n, off) : pread(fd, bounce, n, off);
    if (got != (ssize_t)n) die(write ? "pwrite" : "pread");
    if (!write) memcpy(mem + off, bounce, n);
  }
}

static void drop_caches(void) {
  sync();
  FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
  if (f) {
    fputs("1", f);
    fclose(f);
  }
}

static void touch(const char *what, int advice) {
  enum { N = 64 };
  char *maps[N];
  for (int pass = 0; pass < 2; pass++) {
    double t = now_us();
    for (int i = 0; i < N; i++) {
      char *raw = mmap(0, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (raw == MAP_FAILED) die("mmap");
      char *start = (char *)(((unsigned long)raw + HUGE - 1) & ~(HUGE - 1));
      madvise(start, HUGE, advice);
      memset(start, 1, HUGE);
      maps[i] = raw;
    }
    double per = (now_us() - t) / N;
    for (int i = 0; i < N; i++) munmap(maps[i], 2 * HUGE);
    printf("first touch, %s pages, %s: %.0f us per 2 MiB\n", what, pass ? "reused" : "fresh", per);
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: pages <dir> <MiB> <objects>\n");
    return 2;
  }
  const char *dir = argv[1];
  size_t size = (size_t)atoi(argv[2]) << 20;
  int n = atoi(argv[3]) / 3 * 3;
  char *huge = buffer(size, MADV_HUGEPAGE), *small = buffer(size, MADV_NOHUGEPAGE);
  char *bounce = buffer(CHUNK, MADV_HUGEPAGE);
  const char *way[3] = {"straight, huge pages", "bounce + copy", "straight, 4 KiB pages"};
  for (int write = 1; write >= 0; write--) {
    double us[3] = {0};
    if (!write) drop_caches();
    for (int i = 0; i < n; i++) {
      int w = i % 3;
      double t = now_us();
      int fd = open_at(dir, i, write ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY);
      if (w == 0) transfer(write, fd, huge, size);
      if (w == 1) bounced(write, fd, bounce, small, size);
      if (w == 2) transfer(write, fd, small, size);
      if (write && fdatasync(fd)) die("fdatasync");
      close(fd);
      us[w] += now_us() - t;
    }
    for (int w = 0; w < 3; w++) printf("%s %zu MiB, %s: %.0f us per object\n", write ? "write+fdatasync" : "cold read", size >> 20, way[w], us[w] / (n / 3));
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/o%d", dir, i);
    unlink(path);
  }
  touch("huge", MADV_HUGEPAGE);
  touch("4 KiB", MADV_NOHUGEPAGE);
  return 0;
}
