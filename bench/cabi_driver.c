/*
 * kvbox bench: a C-ABI host doing the same work as bench/odirect_ref.c, through
 * any library exporting the connector C ABI (libkvbox_connector.so, or a
 * native connector such as test/cabi/fs_connector.c).
 *
 *   cabi_bench put|get <lib.so> <config json> <object-bytes> <count> <threads>
 *
 * put stores objects "bench@1@0@<i>@bf16"; get reads them back into one buffer
 * per thread, allocated and touched once. connector_create runs before the
 * clock starts; prints the elapsed nanoseconds of the batch.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvbox_connector.h"

static ConnectorHandle (*create)(const char *, size_t);
static void (*destroy)(ConnectorHandle);
static int32_t (*put)(ConnectorHandle, const char *, const uint8_t *, size_t);
static int32_t (*get)(ConnectorHandle, const char *, uint8_t *, size_t, size_t *);

static ConnectorHandle handle;
static size_t size;
static int count, do_put;
static atomic_int next_index;

static void die(const char *what) {
  fprintf(stderr, "cabi_bench: %s\n", what);
  exit(1);
}

static void *worker(void *arg) {
  (void)arg;
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) die("malloc");
  memset(buf, 0x5a, size);
  char key[64];
  for (int i; (i = atomic_fetch_add(&next_index, 1)) < count;) {
    snprintf(key, sizeof key, "bench@1@0@%d@bf16", i);
    size_t got = 0;
    if (do_put ? put(handle, key, buf, size) != 0 : get(handle, key, buf, size, &got) != 0 || got != size) die(do_put ? "put failed" : "get failed");
  }
  free(buf);
  return NULL;
}

static void *sym(void *lib, const char *name) {
  void *f = dlsym(lib, name);
  if (!f) die(name);
  return f;
}

int main(int argc, char **argv) {
  if (argc != 7) return fprintf(stderr, "usage: cabi_bench put|get <lib.so> <config json> <bytes> <count> <threads>\n"), 2;
  do_put = strcmp(argv[1], "put") == 0;
  void *lib = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
  if (!lib) die(dlerror());
  *(void **)&create = sym(lib, "connector_create");
  *(void **)&destroy = sym(lib, "connector_destroy");
  *(void **)&put = sym(lib, "connector_put");
  *(void **)&get = sym(lib, "connector_get");
  size = strtoull(argv[4], NULL, 10);
  count = atoi(argv[5]);
  int threads = atoi(argv[6]);
  handle = create(argv[3], strlen(argv[3]));
  if (!handle) die("connector_create refused the config");
  pthread_t t[64];
  if (threads < 1 || threads > 64) die("threads must be 1..64");
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  destroy(handle);
  printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
  return 0;
}
