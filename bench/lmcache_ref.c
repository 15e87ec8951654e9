/*
 * kvbox bench: what LMCache's native filesystem connector does, for the
 * comparison users will make (see ../shared/context/MISSION.md): one file
 * per key in one flat directory, a buffered write to a temporary file and a
 * rename — no fsync at all — and buffered reads. `threads` workers split the
 * batch, each with one buffer it reuses.
 *
 *   lmcache_ref put|get <dir> <object-bytes> <count> <threads>
 *
 * Prints the elapsed nanoseconds of the whole batch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static size_t size;
static int count, threads, do_put;
static int next_index;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *what) {
  fprintf(stderr, "lmcache_ref: %s: %s\n", what, strerror(errno));
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
  char *buf = malloc(size ? size : 1);
  if (!buf) die("malloc");
  memset(buf, 0x5a, size);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) die("open dir");
  char name[64], tmp[80];
  for (int i; (i = take()) >= 0;) {
    snprintf(name, sizeof name, "o%d", i);
    if (do_put) {
      snprintf(tmp, sizeof tmp, "o%d.tmp.%d", i, (int)gettid());
      int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) die("open temp");
      for (size_t off = 0; off < size;) {
        ssize_t n = pwrite(fd, buf + off, size - off, (off_t)off);
        if (n <= 0) die("pwrite");
        off += (size_t)n;
      }
      close(fd);
      if (renameat(dfd, tmp, dfd, name)) die("rename");
    } else {
      int fd = openat(dfd, name, O_RDONLY);
      if (fd < 0) die("open");
      for (size_t off = 0; off < size;) {
        ssize_t n = pread(fd, buf + off, size - off, (off_t)off);
        if (n <= 0) die("pread");
        off += (size_t)n;
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
    fprintf(stderr, "usage: lmcache_ref put|get <dir> <object-bytes> <count> <threads>\n");
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
