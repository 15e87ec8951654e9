/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives libkvbox_connector.so the way a C-ABI host does: dlopen, dlsym the
 * 8 functions, calls from many threads with no locking of its own.
 *
 *   harness <lib.so> suite   '<config json>'   round trips, misses, small buffers,
 *                                              listing, 8 threads, create/destroy cycles
 *   harness <lib.so> hostile '<config json>'   a put of "attack" fails (-1) and the
 *                                              same handle keeps working
 *   harness <lib.so> refuse  '<config json>'   connector_create returns NULL
 *   harness <lib.so> flood   '<config json>'   300 failing calls at once, then one more a second later
 *   harness <lib.so> interleave '<config json>'  4 threads failing calls while this one writes
 *                                              its own stderr lines ("host line N")
 *
 * Prints "ok <check>" per check; on the first failure prints "FAIL …" and exits 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_config.h"
#include "kvbox_connector.h"

static struct {
  ConnectorHandle (*create)(const char *, size_t);
  void (*destroy)(ConnectorHandle);
  int32_t (*exists)(ConnectorHandle, const char *);
  int32_t (*put)(ConnectorHandle, const char *, const uint8_t *, size_t);
  int32_t (*get)(ConnectorHandle, const char *, uint8_t *, size_t, size_t *);
  int32_t (*remove)(ConnectorHandle, const char *);
  int32_t (*file_size)(ConnectorHandle, const char *, uint64_t *);
  int32_t (*list_keys)(ConnectorHandle, char *, size_t, size_t *);
} c;

static const char *config;

#define CHECK(cond, ...)                      \
  do {                                        \
    if (!(cond)) {                            \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                    \
      printf("\n");                           \
      fflush(stdout);                         \
      exit(1);                                \
    }                                         \
  } while (0)

static ConnectorHandle open_handle(void) {
  ConnectorHandle h = c.create(config, strlen(config));
  CHECK(h != NULL, "connector_create refused %s", config);
  return h;
}

/* Deterministic content: byte i of object `seed` of `n` bytes. */
static void fill(uint8_t *b, size_t n, unsigned seed) {
  uint32_t x = 2166136261u ^ seed;
  for (size_t i = 0; i < n; i++) x = x * 16777619u ^ (uint32_t)i, b[i] = (uint8_t)(x >> 13);
}

static void round_trips(ConnectorHandle h) {
  const size_t sizes[] = {0, 1, 4095, 4096, 4097, 1 << 20, (4 << 20) + 3, 16 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    size_t n = sizes[i], got = 7;
    uint8_t *in = malloc(n + 1), *out = malloc(n + 1);
    char key[64];
    snprintf(key, sizeof key, "model@1@0@%zx@bf16", n);
    fill(in, n, (unsigned)n);
    CHECK(c.put(h, key, in, n) == 0, "put %zu bytes", n);
    CHECK(c.exists(h, key) == 1, "exists after put of %zu", n);
    uint64_t size = 0;
    CHECK(c.file_size(h, key, &size) == 0 && size == n, "file_size %zu", n);
    CHECK(c.get(h, key, out, n, &got) == 0 && got == n, "get %zu into an exact buffer: got %zu", n, got);
    CHECK(memcmp(in, out, n) == 0, "bytes of %zu differ", n);
    free(in), free(out);
  }
  printf("ok round trips 0 B .. 16 MiB\n");
}

static void misses(ConnectorHandle h) {
  uint8_t b[8];
  size_t got = 0;
  uint64_t size;
  CHECK(c.exists(h, "missing") == 0, "exists(missing)");
  CHECK(c.get(h, "missing", b, sizeof b, &got) == 1, "get(missing) is 1");
  CHECK(c.file_size(h, "missing", &size) == 1, "file_size(missing) is 1");
  CHECK(c.remove(h, "missing") == 0, "remove(missing) is 0");
  CHECK(c.put(h, "gone", b, sizeof b) == 0 && c.remove(h, "gone") == 1 && c.exists(h, "gone") == 0, "remove");
  printf("ok missing keys\n");
}

static void small_buffers(ConnectorHandle h) {
  uint8_t in[5000], out[5000];
  size_t got = 0;
  fill(in, sizeof in, 9);
  memset(out, 0xEE, sizeof out);
  CHECK(c.put(h, "big", in, sizeof in) == 0, "put big");
  CHECK(c.get(h, "big", out, 4999, &got) == -1, "a too-small buffer fails");
  CHECK(got == 5000, "*out_len says the size needed, got %zu", got);
  for (size_t i = 0; i < sizeof out; i++) CHECK(out[i] == 0xEE, "nothing copied into a too-small buffer (byte %zu)", i);
  CHECK(c.get(h, "big", NULL, 0, &got) == -1 && got == 5000, "a size query with no buffer");
  CHECK(c.get(h, "big", out, sizeof out, &got) == 0 && got == 5000 && memcmp(in, out, 5000) == 0, "then the right size works");
  printf("ok too-small buffers fail with the size needed, nothing truncated\n");
}

static void listing(ConnectorHandle h) {
  const char *keys[] = {"a/b", "a_b", "a-SEP-b", "model@1@0@ff@bf16", "k", "ключ"};
  size_t n = sizeof keys / sizeof *keys, need = 0, got = 0;
  for (size_t i = 0; i < n; i++) CHECK(c.put(h, keys[i], (const uint8_t *)"v", 1) == 0, "put %s", keys[i]);
  CHECK(c.list_keys(h, NULL, 0, &need) == -1 && need > 0, "size query");
  char *buf = malloc(need + 1);
  CHECK(c.list_keys(h, buf, need - 1, &got) == -1 && got == need, "one byte short fails, never cut");
  CHECK(c.list_keys(h, buf, need, &got) == 0 && got == need, "exact buffer");
  buf[got] = 0;
  for (size_t i = 0; i < n; i++) {
    int found = 0;
    for (char *line = buf, *next; line; line = next) {
      next = strchr(line, '\n');
      size_t len = next ? (size_t)(next - line) : strlen(line);
      found |= len == strlen(keys[i]) && memcmp(line, keys[i], len) == 0;
      if (next) next++;
    }
    CHECK(found, "key %s listed as put, in: %s", keys[i], buf);
  }
  for (size_t i = 0; i < n; i++) c.remove(h, keys[i]);
  // A key list_keys could not frame is refused at put, so the listing keeps working.
  CHECK(c.put(h, "line\nbreak", (const uint8_t *)"v", 1) == -1, "a key with a newline is refused");
  CHECK(c.exists(h, "line\nbreak") == 0, "and not stored");
  free(buf);
  buf = malloc(1 << 20);
  CHECK(c.list_keys(h, buf, 1 << 20, &got) == 0, "the list still works");
  free(buf);
  printf("ok list_keys returns the keys as put, and fails rather than cut\n");
}

typedef struct {
  ConnectorHandle h;
  int id, shared, failures;
} worker_t;

#define SHARED_SIZE (256 << 10)

static void *work(void *arg) {
  worker_t *w = arg;
  uint8_t *in = malloc(SHARED_SIZE), *out = malloc(SHARED_SIZE);
  char key[32];
  snprintf(key, sizeof key, w->shared ? "shared" : "own-%d", w->id);
  memset(in, w->id + 1, SHARED_SIZE);
  for (int round = 0; round < 25; round++) {
    size_t got = 0;
    if (c.put(w->h, key, in, SHARED_SIZE) != 0) w->failures++;
    int rc = c.get(w->h, key, out, SHARED_SIZE, &got);
    if (rc != 0 || got != SHARED_SIZE) {
      w->failures++;
      continue;
    }
    /* Distinct keys: our own bytes. Shared key: one writer's whole object. */
    for (size_t i = 1; i < got; i++) w->failures += out[i] != out[0];
    if (!w->shared) w->failures += out[0] != w->id + 1;
  }
  free(in), free(out);
  return NULL;
}

static void threads(ConnectorHandle h, int shared) {
  pthread_t t[8];
  worker_t w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (worker_t){h, i, shared, 0};
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    CHECK(w[i].failures == 0, "thread %d: %d failures (%s keys)", i, w[i].failures, shared ? "identical" : "distinct");
  }
  printf("ok 8 threads on %s\n", shared ? "one identical key" : "distinct keys");
}

typedef struct {
  ConnectorHandle h;
  int id, stored;
} writer_t;

static void *write_until_refused(void *arg) {
  writer_t *w = arg;
  size_t n = 4 << 20;
  uint8_t *b = malloc(n);
  char key[32];
  memset(b, w->id, n);
  for (;; w->stored++) {
    snprintf(key, sizeof key, "w%d-%d", w->id, w->stored);
    if (c.put(w->h, key, b, n) != 0) break;
  }
  free(b);
  return NULL;
}

static int temp_files;

static int count_temp(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st, (void)type;
  temp_files += strncmp(path + ftw->base, ".kvbox-tmp", 10) == 0;
  return 0;
}

/* destroy while 4 threads put 4 MiB objects: it returns only once their
 * calls ended, so at that moment no put is half-done (no temp file), every
 * put reported done is whole, and the root is free to open again. */
static void destroy_in_flight(void) {
  ConnectorHandle h = open_handle();
  pthread_t t[4];
  writer_t w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (writer_t){h, i, 0};
    pthread_create(&t[i], NULL, write_until_refused, &w[i]);
  }
  struct timespec pause = {0, 100 * 1000 * 1000};
  nanosleep(&pause, NULL);
  c.destroy(h);
  char root[4096];
  CHECK(json_string(config, strlen(config), "root", root, sizeof root) == 0, "no root in the config");
  temp_files = 0;
  nftw(root, count_temp, 16, FTW_PHYS);
  CHECK(temp_files == 0, "%d puts still writing after destroy returned", temp_files);
  h = open_handle();
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    for (int k = 0; k < w[i].stored; k++) {
      char key[32];
      uint64_t size = 0;
      snprintf(key, sizeof key, "w%d-%d", i, k);
      CHECK(c.file_size(h, key, &size) == 0 && size == 4 << 20, "put %s reported done is whole after destroy", key);
    }
  }
  c.destroy(h);
  printf("ok destroy waits for the calls in flight\n");
}

static void cycles(void) {
  for (int i = 0; i < 20; i++) {
    ConnectorHandle h = open_handle();
    CHECK(c.create(config, strlen(config)) == NULL, "a second open of the same root is refused (cycle %d)", i);
    uint8_t b[3] = {1, 2, (uint8_t)i}, out[3];
    size_t got;
    CHECK(c.put(h, "cycle", b, 3) == 0 && c.get(h, "cycle", out, 3, &got) == 0 && out[2] == i, "cycle %d", i);
    c.destroy(h);
    CHECK(c.exists(h, "cycle") == 0 && c.get(h, "cycle", out, 3, &got) == -1, "a destroyed handle is refused, not used");
    size_t listed = 12345;
    CHECK(c.list_keys(h, NULL, 0, &listed) == -1 && listed == 0, "list_keys on a destroyed handle: -1, *out_len = 0 (got %zu)", listed);
  }
  printf("ok 20 create/destroy cycles; destroyed handles are refused\n");
}

static void hostile(void) {
  ConnectorHandle h = open_handle();
  uint8_t b[16] = {0}, out[16];
  size_t got = 0;
  CHECK(c.put(h, "attack", b, sizeof b) == -1, "the hostile put fails with -1");
  for (int i = 0; i < 3; i++) {
    CHECK(c.put(h, "fine", b, sizeof b) == 0, "the handle keeps working after the attack (put %d)", i);
    CHECK(c.get(h, "fine", out, sizeof out, &got) == 0 && got == sizeof b, "and get");
    CHECK(c.put(h, "attack", b, sizeof b) == -1, "a repeated attack fails again");
  }
  c.destroy(h);
  printf("ok hostile connector: -1, then the library keeps working\n");
}

/* 20 gets into a too-small buffer: 20 lines on stderr, from this thread. */
static void *fail_gets(void *h) {
  uint8_t small[1];
  size_t got;
  for (int i = 0; i < 20; i++) c.get(h, "big", small, sizeof small, &got);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) return fprintf(stderr, "usage: harness <lib.so> suite|hostile|refuse|flood|interleave <config json>\n"), 2;
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  CHECK(lib != NULL, "dlopen: %s", dlerror());
#define SYM(f) CHECK((*(void **)&c.f = dlsym(lib, "connector_" #f)) != NULL, "missing connector_" #f)
  SYM(create);
  SYM(destroy);
  SYM(exists);
  SYM(put);
  SYM(get);
  SYM(remove);
  SYM(file_size);
  SYM(list_keys);
  config = argv[3];
  if (strcmp(argv[2], "refuse") == 0) {
    CHECK(c.create(config, strlen(config)) == NULL, "connector_create accepted %s", config);
    printf("ok refused\n");
  } else if (strcmp(argv[2], "hostile") == 0) {
    hostile();
  } else if (strcmp(argv[2], "interleave") == 0) {
    ConnectorHandle h = open_handle();
    CHECK(c.put(h, "big", (const uint8_t *)"0123456789", 10) == 0, "put");
    pthread_t t[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, fail_gets, h) == 0, "thread");
    for (int i = 0; i < 400; i++) fprintf(stderr, "host line %d\n", i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    c.destroy(h);
    printf("ok interleave\n");
  } else if (strcmp(argv[2], "flood") == 0) {
    ConnectorHandle h = open_handle();
    uint8_t small[1];
    size_t got;
    CHECK(c.put(h, "big", (const uint8_t *)"0123456789", 10) == 0, "put");
    for (int i = 0; i < 300; i++) CHECK(c.get(h, "big", small, sizeof small, &got) == -1, "a too-small buffer fails");
    struct timespec second = {1, 100000000};
    nanosleep(&second, NULL);
    CHECK(c.get(h, "big", small, sizeof small, &got) == -1, "a too-small buffer fails");
    c.destroy(NULL); /* like free(NULL): nothing to say */
    c.destroy(h);
    printf("ok flood\n");
  } else {
    ConnectorHandle h = open_handle();
    round_trips(h);
    misses(h);
    small_buffers(h);
    listing(h);
    threads(h, 0);
    threads(h, 1);
    c.destroy(h);
    cycles();
    destroy_in_flight();
  }
  printf("harness: all passed\n");
  return 0;
}
