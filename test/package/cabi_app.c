/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A C host built the way @kvbox/cabi-linux-x64-gnu's README says: against the
 * installed header, linked with -lkvbox_connector (no dlopen).
 *
 *   cabi_app '<config json>'   prints "cabi app ok" and exits 0, or "FAIL …" and exits 1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvbox_connector.h>

#define CHECK(cond, what)                  \
  do {                                     \
    if (!(cond)) {                         \
      printf("FAIL %s\n", what);           \
      return 1;                            \
    }                                      \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  ConnectorHandle h = connector_create(argv[1], strlen(argv[1]));
  CHECK(h != NULL, "connector_create");
  static const uint8_t value[] = "kv cache block 0";
  uint8_t out[64];
  size_t got = 0, listed = 0;
  uint64_t size = 0;
  char list[64];
  CHECK(connector_put(h, "layer0@tok", value, sizeof value) == 0, "put");
  CHECK(connector_exists(h, "layer0@tok") == 1, "exists");
  CHECK(connector_file_size(h, "layer0@tok", &size) == 0 && size == sizeof value, "file_size");
  CHECK(connector_get(h, "layer0@tok", out, sizeof out, &got) == 0 && got == sizeof value && memcmp(out, value, got) == 0, "get");
  CHECK(connector_get(h, "absent", out, sizeof out, &got) == 1, "get of a missing key is 1");
  CHECK(connector_list_keys(h, list, sizeof list, &listed) == 0 && listed == strlen("layer0@tok") && memcmp(list, "layer0@tok", listed) == 0, "list_keys");
  CHECK(connector_remove(h, "layer0@tok") == 1 && connector_exists(h, "layer0@tok") == 0, "remove");
  connector_destroy(h);
  CHECK(connector_exists(h, "layer0@tok") == 0, "a destroyed handle is refused, not dereferenced");
  printf("cabi app ok\n");
  return 0;
}
