/* SPDX-License-Identifier: Apache-2.0 */
/* Just enough JSON for the test connectors' flat configs: a string or a
 * boolean member of the top-level object. Not a general parser. */
#ifndef KVBOX_TEST_JSON_CONFIG_H
#define KVBOX_TEST_JSON_CONFIG_H

#include <string.h>

/* Where the value of member `name` starts, or NULL. */
static inline const char *json_member(const char *json, size_t len, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i + n + 2 < len; i++) {
    if (json[i] != '"' || strncmp(json + i + 1, name, n) != 0 || json[i + n + 1] != '"') continue;
    size_t j = i + n + 2;
    while (j < len && (json[j] == ' ' || json[j] == ':')) j++;
    return j < len ? json + j : NULL;
  }
  return NULL;
}

/* Copies string member `name` (escapes \" \\ \/ only) into out; 0 or -1. */
static inline int json_string(const char *json, size_t len, const char *name, char *out, size_t cap) {
  const char *p = json_member(json, len, name), *end = json + len;
  if (!p || *p != '"') return -1;
  size_t n = 0;
  for (p++; p < end && *p != '"'; p++) {
    if (*p == '\\' && ++p < end && !strchr("\"\\/", *p)) return -1;
    if (n + 1 >= cap) return -1;
    out[n++] = *p;
  }
  out[n] = 0;
  return p < end ? 0 : -1;
}

/* Boolean member `name`, or `fallback` when absent. */
static inline int json_bool(const char *json, size_t len, const char *name, int fallback) {
  const char *p = json_member(json, len, name);
  if (!p) return fallback;
  return strncmp(p, "true", 4) == 0 ? 1 : strncmp(p, "false", 5) == 0 ? 0 : fallback;
}

#endif
