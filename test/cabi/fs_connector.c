/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A correct C-ABI filesystem connector: the test fixture kvbox loads as a
 * trusted native connector (loadNativeConnector), and the conformance suite
 * runs on. Fixes each flaw of LMCache's reference connector:
 *  - file names are a reversible escape of the key (distinct keys never share
 *    a file; keys up to 1024 bytes, cut into <= 200-byte directory segments);
 *  - list_keys returns the keys, and -1 with the size needed rather than a cut list;
 *  - get never truncates: -1 with the size needed;
 *  - temp files are unique per process, thread and call; puts fsync (unless
 *    "durable": false) and rename atomically.
 * Config: {"base_path": "<dir>", "durable": true|false}.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_config.h"

#define SEGMENT 200

typedef struct {
  int base;
  int durable;
  atomic_ulong seq;
} fs_t;

static int keeps(unsigned char c, int first) {
  if (c == '.') return !first;
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_@=+,~-", c);
}

/* key -> "seg/seg/.../last.obj"; 0, or -1 when it does not fit. */
static int path_of(const char *key, char *out, size_t cap) {
  size_t n = 0, seg = 0;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    char esc[4];
    int len = keeps(*p, seg == 0) ? (esc[0] = *p, 1) : snprintf(esc, sizeof esc, "%%%02X", *p);
    if (seg + len > SEGMENT) {
      if (n + 1 >= cap) return -1;
      out[n++] = '/';
      seg = 0;
      if (*p == '.') len = snprintf(esc, sizeof esc, "%%%02X", *p); /* a segment never starts with '.' */
    }
    if (n + len >= cap) return -1;
    memcpy(out + n, esc, len);
    n += len;
    seg += len;
  }
  if (n == 0 || n + 5 >= cap) return -1;
  memcpy(out + n, ".obj", 5);
  return 0;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Appends the key of the escaped, '/'-free text `s` (len n) to `out`. */
static int unescape(const char *s, size_t n, char *out, size_t *len) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      if (i + 2 >= n) return -1;
      int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      out[(*len)++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[(*len)++] = s[i];
    }
  }
  return 0;
}

void *connector_create(const char *json, size_t len) {
  char base[4096];
  if (json_string(json, len, "base_path", base, sizeof base) != 0) return NULL;
  int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return NULL;
  fs_t *fs = calloc(1, sizeof *fs);
  if (!fs) return close(fd), NULL;
  fs->base = fd;
  fs->durable = json_bool(json, len, "durable", 1);
  return fs;
}

void connector_destroy(void *h) {
  fs_t *fs = h;
  if (!fs) return;
  close(fs->base);
  free(fs);
}

static int stat_key(fs_t *fs, const char *key, struct stat *st) {
  char path[4096];
  if (path_of(key, path, sizeof path) != 0) return -1;
  if (fstatat(fs->base, path, st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
  return S_ISREG(st->st_mode) ? 0 : 1;
}

int32_t connector_exists(void *h, const char *key) {
  struct stat st;
  return stat_key(h, key, &st) == 0;
}

int32_t connector_file_size(void *h, const char *key, uint64_t *out) {
  struct stat st;
  int rc = stat_key(h, key, &st);
  if (rc == 0) *out = (uint64_t)st.st_size;
  return rc;
}

static int mkdirs(int base, char *path) {
  for (char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
    *slash = 0;
    int rc = mkdirat(base, path, 0755);
    *slash = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return 0;
}

int32_t connector_put(void *h, const char *key, const uint8_t *data, size_t len) {
  fs_t *fs = h;
  char path[4096], tmp[96];
  if (path_of(key, path, sizeof path) != 0 || mkdirs(fs->base, path) != 0) return -1;
  snprintf(tmp, sizeof tmp, ".tmp-%d-%d-%lu", getpid(), gettid(), atomic_fetch_add(&fs->seq, 1));
  int fd = openat(fs->base, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) goto fail;
    done += (size_t)n;
  }
  if (fs->durable && fdatasync(fd) != 0) goto fail;
  close(fd);
  if (renameat(fs->base, tmp, fs->base, path) != 0) return unlinkat(fs->base, tmp, 0), -1;
  if (fs->durable) fsync(fs->base);
  return 0;
fail:
  close(fd);
  unlinkat(fs->base, tmp, 0);
  return -1;
}

int32_t connector_get(void *h, const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  fs_t *fs = h;
  char path[4096];
  if (path_of(key, path, sizeof path) != 0) return -1;
  int fd = openat(fs->base, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
  struct stat st;
  if (fstat(fd, &st) != 0) return close(fd), -1;
  size_t size = (size_t)st.st_size;
  *out_len = size;
  if (size > cap) return close(fd), -1; /* never truncate: the caller learns the size */
  for (size_t done = 0; done < size;) {
    ssize_t n = read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return close(fd), -1; /* shrank under us: an error, not a short success */
    done += (size_t)n;
  }
  close(fd);
  return 0;
}

int32_t connector_remove(void *h, const char *key) {
  fs_t *fs = h;
  char path[4096];
  if (path_of(key, path, sizeof path) != 0) return -1;
  if (unlinkat(fs->base, path, 0) == 0) return 1;
  return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

typedef struct {
  char *buf;
  size_t len, cap;
} text_t;

static int append(text_t *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = (t->len + n + 1) * 2;
    char *b = realloc(t->buf, cap);
    if (!b) return -1;
    t->buf = b, t->cap = cap;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  return 0;
}

/* Walks directory `rel` (escaped prefix `prefix`), appending each key and '\n'. */
static int walk(int base, const char *rel, const char *prefix, text_t *out) {
  int fd = openat(base, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (!d) return close(fd), -1;
  int rc = 0;
  for (struct dirent *e; rc == 0 && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue; /* ., .., temp files: never keys */
    char sub[4096], pre[4096];
    snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    struct stat st;
    if (fstatat(base, sub, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      snprintf(pre, sizeof pre, "%s%s", prefix, e->d_name);
      rc = walk(base, sub, pre, out);
    } else if (S_ISREG(st.st_mode)) {
      size_t n = strlen(e->d_name);
      if (n <= 4 || strcmp(e->d_name + n - 4, ".obj") != 0) continue;
      char key[4096];
      size_t klen = 0;
      if (unescape(prefix, strlen(prefix), key, &klen) != 0 || unescape(e->d_name, n - 4, key, &klen) != 0) continue;
      rc = append(out, key, klen) || append(out, "\n", 1);
    }
  }
  closedir(d);
  return rc;
}

int32_t connector_list_keys(void *h, char *out, size_t cap, size_t *out_len) {
  fs_t *fs = h;
  text_t t = {0};
  if (walk(fs->base, "", "", &t) != 0) return free(t.buf), -1;
  size_t n = t.len ? t.len - 1 : 0; /* separators, not terminators */
  *out_len = n;
  int rc = n > cap ? -1 : 0;
  if (rc == 0 && n) memcpy(out, t.buf, n);
  free(t.buf);
  return rc;
}
