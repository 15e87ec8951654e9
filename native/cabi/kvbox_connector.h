/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvbox_connector.h — the connector C ABI as libkvbox_connector.so implements it.
 *
 * Same 8 functions, signatures and return codes as LMCache's remote-connector
 * C ABI, so a host that loads C-ABI connectors can load this library unchanged.
 * Behind it runs a sandboxed WebAssembly connector (or kvbox's built-in
 * filesystem connector), chosen by the JSON given to connector_create.
 *
 * Differences a host may rely on (the ABI leaves room for them):
 *  - Every function is thread-safe; call from any number of threads.
 *  - connector_get never truncates: a buffer too small fails with -1 and sets
 *    *out_len to the size needed.
 *  - connector_list_keys returns the keys as they were put, and fails with -1
 *    (setting *out_len to the size needed) rather than cutting the list short.
 *  - Why a call failed is written to stderr, one line prefixed "kvbox_connector:",
 *    written whole, at most 100 a second (how many were left out is said with
 *    the next line written); KVBOX_CONNECTOR_LOG=off silences them.
 *    The size queries (get or list_keys with out_cap 0) write nothing.
 *  - connector_destroy waits for the calls in flight on that handle; a call made
 *    with a handle already destroyed fails (-1; 0 for exists) instead of touching
 *    freed memory.
 *  - No panic or exception crosses this boundary.
 * See docs/c-abi.md for the configuration and the trust model.
 */
#ifndef KVBOX_CONNECTOR_H
#define KVBOX_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handle returned by connector_create. */
typedef void *ConnectorHandle;

/*
 * Opens a connector for one tenant. `config_json` is UTF-8 JSON (not
 * NUL-terminated) of `config_json_len` bytes, for example:
 *   {"connector": {"wasm": "/opt/fs-connector.wasm", "sha256": "<64 hex>"},
 *    "root": "/var/lib/kvcache/tenant-a", "config": {"namespace": "llama"},
 *    "limits": {"call_timeout_ms": 2000}, "quota": {"bytes": 1073741824}}
 * or {"connector": "builtin:fs", "root": "/var/lib/kvcache/tenant-a"}
 * ("base_path", LMCache's name, is accepted for "root"; the names inside
 * "limits" and "quota" may be snake_case or camelCase, top-level ones are
 * snake_case). One connector per root at a time, across
 * processes: a second create on an open root is refused.
 * Unknown fields are refused. Returns NULL when refused (reason on stderr).
 */
ConnectorHandle connector_create(const char *config_json, size_t config_json_len);

/* Closes the connector after the calls in flight on it finish. */
void connector_destroy(ConnectorHandle handle);

/* 1 if `key` (UTF-8, NUL-terminated) is stored; 0 if absent or on error
 * (use connector_file_size to tell an error from absence). */
int32_t connector_exists(ConnectorHandle handle, const char *key);

/* Stores `data_len` bytes under `key`, atomically replacing any previous
 * object. 0 on success, -1 on failure. A key containing '\n' is refused
 * (-1): connector_list_keys could not return it. */
int32_t connector_put(ConnectorHandle handle, const char *key, const uint8_t *data, size_t data_len);

/* Reads `key` into `out_buf` (capacity `out_cap`). 0: `*out_len` = the
 * object's size. 1: not found. -1: error — including an object larger than
 * `out_cap`, in which case nothing is copied and `*out_len` = the size needed. */
int32_t connector_get(ConnectorHandle handle, const char *key, uint8_t *out_buf, size_t out_cap, size_t *out_len);

/* 1 if removed, 0 if not found, -1 on error. */
int32_t connector_remove(ConnectorHandle handle, const char *key);

/* 0: `*out_size` = the object's size. 1: not found. -1: error. */
int32_t connector_file_size(ConnectorHandle handle, const char *key, uint64_t *out_size);

/* Every key as put, separated by '\n' (no trailing newline; a NUL follows
 * when the buffer has room, not counted). 0: `*out_len` = bytes written.
 * -1: error (`*out_len` = 0) — or a list longer than `out_cap`, in which
 * case `*out_len` = the bytes needed (pass out_cap 0 to ask). A key
 * containing '\n' (stored through kvbox's other interfaces) fails the list. */
int32_t connector_list_keys(ConnectorHandle handle, char *out_buf, size_t out_cap, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* KVBOX_CONNECTOR_H */
