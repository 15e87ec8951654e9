/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A C-ABI connector with the flaws of LMCache's reference FS connector, on
 * purpose, so tests can show kvbox catching each as a typed error:
 *  - get silently truncates into a buffer that is too small (returns 0);
 *  - list_keys returns file names ("<name>.data"), not keys, and stops
 *    silently when the buffer is full;
 *  - the key -> file name mapping replaces '/' with '_', so "a/b" and "a_b"
 *    share one file.
 * Config: {"base_path": "<dir>"}.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_config.h"

typedef struct {
  char base[4096];
} flawed_t;

static void path_of(flawed_t *f, const char *key, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s/", f->base);
  for (const char *p = key; *p && (size_t)n + 6 < cap; p++) out[n++] = *p == '/' ? '_' : *p;
  snprintf(out + n, cap - n, ".data");
}

void *connector_create(const char *json, size_t len) {
  flawed_t *f = calloc(1, sizeof *f);
  if (f && json_string(json, len, "base_path", f->base, sizeof f->base) != 0) return free(f), NULL;
  return f;
}

void connector_destroy(void *h) { free(h); }

int32_t connector_exists(void *h, const char *key) {
  char path[8192];
  path_of(h, key, path, sizeof path);
  return access(path, F_OK) == 0;
}

int32_t connector_file_size(void *h, const char *key, uint64_t *out) {
  char path[8192];
  struct stat st;
  path_of(h, key, path, sizeof path);
  if (stat(path, &st) != 0) return errno == ENOENT ? 1 : -1;
  *out = (uint64_t)st.st_size;
  return 0;
}

int32_t connector_put(void *h, const char *key, const uint8_t *data, size_t len) {
  char path[8192], tmp[8200];
  path_of(h, key, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path); /* deterministic: concurrent writers share it */
  FILE *fp = fopen(tmp, "wb");
  if (!fp) return -1;
  size_t done = fwrite(data, 1, len, fp);
  fclose(fp);
  if (done != len) return -1;
  return rename(tmp, path) == 0 ? 0 : -1;
}

int32_t connector_get(void *h, const char *key, uint8_t *out, size_t cap, size_t *out_len) {
  char path[8192];
  path_of(h, key, path, sizeof path);
  FILE *fp = fopen(path, "rb");
  if (!fp) return errno == ENOENT ? 1 : -1;
  *out_len = fread(out, 1, cap, fp); /* a too-small buffer: a prefix, reported as success */
  fclose(fp);
  return 0;
}

int32_t connector_remove(void *h, const char *key) {
  char path[8192];
  path_of(h, key, path, sizeof path);
  if (unlink(path) == 0) return 1;
  return errno == ENOENT ? 0 : -1;
}

int32_t connector_list_keys(void *h, char *out, size_t cap, size_t *out_len) {
  flawed_t *f = h;
  DIR *d = opendir(f->base);
  if (!d) return -1;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".data") != 0) continue;
    if (n + len + 1 > cap) break; /* the buffer is full: stop, say nothing */
    memcpy(out + n, e->d_name, len);
    out[n + len] = '\n';
    n += len + 1;
  }
  closedir(d);
  *out_len = n;
  return 0;
}
