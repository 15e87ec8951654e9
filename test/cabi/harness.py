#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Drives libkvbox_connector.so from Python through ctypes, as a Python
host of the C ABI would (ctypes releases the GIL during each call, so the
threads below really call the library at once).

    harness.py <lib.so> '<config json>'

Prints "ok <check>" per check; raises (exit 1) on the first failure.
"""
import ctypes
import hashlib
import sys
import threading

lib = ctypes.CDLL(sys.argv[1])
config = sys.argv[2].encode()
H = ctypes.c_void_p
lib.connector_create.restype = H
lib.connector_create.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
lib.connector_destroy.argtypes = [H]
for name in ["exists", "remove"]:
    getattr(lib, f"connector_{name}").argtypes = [H, ctypes.c_char_p]
lib.connector_put.argtypes = [H, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
lib.connector_get.argtypes = [H, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
lib.connector_file_size.argtypes = [H, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]
lib.connector_list_keys.argtypes = [H, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]


def data(n, seed):
    block = hashlib.sha256(f"{seed}".encode()).digest()
    return (block * (n // 32 + 1))[:n]


def get(h, key, cap):
    buf = ctypes.create_string_buffer(cap)
    got = ctypes.c_size_t(0)
    rc = lib.connector_get(h, key.encode(), buf, cap, ctypes.byref(got))
    return rc, got.value, buf.raw[: got.value] if rc == 0 else None


def check(cond, what):
    if not cond:
        raise AssertionError(what)


h = lib.connector_create(config, len(config))
check(h, f"connector_create refused {config!r}")

for n in [0, 1, 4097, 1 << 20, 16 << 20]:
    key = f"py@{n}"
    payload = data(n, n)
    check(lib.connector_put(h, key.encode(), payload, n) == 0, f"put {n}")
    check(lib.connector_exists(h, key.encode()) == 1, f"exists {n}")
    size = ctypes.c_uint64()
    check(lib.connector_file_size(h, key.encode(), ctypes.byref(size)) == 0 and size.value == n, f"file_size {n}")
    rc, got, back = get(h, key, n)
    check(rc == 0 and got == n and back == payload, f"get {n}: rc {rc} len {got}")
print("ok round trips 0 B .. 16 MiB")

rc, got, _ = get(h, "missing", 16)
check(rc == 1 and lib.connector_exists(h, b"missing") == 0 and lib.connector_remove(h, b"missing") == 0, "misses")
print("ok missing keys")

lib.connector_put(h, b"big", data(5000, 1), 5000)
rc, got, _ = get(h, "big", 4999)
check(rc == -1 and got == 5000, f"a too-small buffer fails with the size needed: rc {rc} len {got}")
print("ok too-small buffer: -1 and the size needed")

need = ctypes.c_size_t(0)
check(lib.connector_list_keys(h, None, 0, ctypes.byref(need)) == -1 and need.value > 0, "list size query")
buf = ctypes.create_string_buffer(need.value)
check(lib.connector_list_keys(h, buf, need.value, ctypes.byref(need)) == 0, "list")
listed = sorted(buf.raw[: need.value].decode().split("\n"))
check(listed == sorted(["big"] + [f"py@{n}" for n in [0, 1, 4097, 1 << 20, 16 << 20]]), f"listed {listed}")
print("ok list_keys returns the keys")

failures = []


def worker(i, shared):
    key = b"shared" if shared else f"own-{i}".encode()
    payload = bytes([i + 1]) * (256 << 10)
    for _ in range(10):
        if lib.connector_put(h, key, payload, len(payload)) != 0:
            failures.append(f"put {i}")
        rc, got, back = get(h, key.decode(), len(payload))
        if rc != 0 or back != bytes([back[0]]) * len(payload) or (not shared and back[0] != i + 1):
            failures.append(f"get {i}: rc {rc}")


for shared in [False, True]:
    threads = [threading.Thread(target=worker, args=(i, shared)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not failures, f"threads: {failures[:5]}")
    print(f"ok 8 threads on {'one identical key' if shared else 'distinct keys'}")

lib.connector_destroy(h)
for i in range(10):
    h = lib.connector_create(config, len(config))
    check(h, f"reopen {i}")
    check(lib.connector_exists(h, b"big") == 1, "data survives destroy")
    lib.connector_destroy(h)
check(lib.connector_exists(h, b"big") == 0, "a destroyed handle is refused")
print("ok create/destroy cycles")
print("harness.py: all passed")
