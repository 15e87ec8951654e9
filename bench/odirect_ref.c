/*
 * kvbox bench: the device-limit reference. One file per object, O_DIRECT,
 * 2 MiB-aligned huge-page-advised buffers allocated once per thread, the
 * same durability as kvbox (temp file, fdatasync, rename, directory fsync).
 *
 *   odirect_ref put|get <dir> <object-bytes> <count> <threads>
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
static int count, threads, do_put;
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

static void *worker(void *arg) {
  (void)arg;
  void *buf;
  if (posix_memalign(&buf, ALIGN, CHUNK)) die("posix_memalign");
  madvise(buf, CHUNK, MADV_HUGEPAGE);
  memset(buf, 0x5a, CHUNK);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) die("open dir");
  char name[64], tmp[64];
  for (int i; (i = take()) >= 0;) {
    snprintf(name, sizeof name, "o%d", i);
    if (do_put) {
      snprintf(tmp, sizeof tmp, ".tmp-%d", i);
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
    } else {
      int fd = openat(dfd, name, O_RDONLY | O_DIRECT);
      if (fd < 0) die("open");
      for (size_t off = 0; off < size; off += CHUNK) {
        size_t n = size - off < CHUNK ? size - off : CHUNK;
        size_t padded = (n + BLOCK - 1) / BLOCK * BLOCK;
        if (pread(fd, buf, padded, (off_t)off) < (ssize_t)n) die("pread");
      }
      close(fd);
    }
  }
  close(dfd);
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: odirect_ref put|get <dir> <object-bytes> <count> <threads>\n");
    return 2;
  }
  do_put = strcmp(argv[1], "put") == 0;
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
