"""Prints the PJRT C API version (major.minor) of a PJRT plugin.

Usage: python3 scripts/pjrt_api_version.py /path/to/plugin.so

It dlopens the plugin, calls its GetPjrtApi entry point and reads the version struct at the
head of the returned PJRT_Api, the check that install-xla-cpu.sh and install-xla-cuda.sh
use to say whether a downloaded plugin loads at all. Exits non-zero with the reason when it
does not.
"""
import ctypes
import sys


class Version(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("major", ctypes.c_int), ("minor", ctypes.c_int)]


class Api(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("pjrt_api_version", Version)]


def main(path):
    try:
        get = ctypes.CDLL(path).GetPjrtApi
    except (OSError, AttributeError) as e:
        sys.exit("cannot load %s: %s" % (path, e))
    get.restype = ctypes.POINTER(Api)
    api = get()
    if not api:
        sys.exit("GetPjrtApi of %s returned NULL" % path)
    v = api.contents.pjrt_api_version
    print("%d.%d" % (v.major, v.minor))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: pjrt_api_version.py PLUGIN.so")
    main(sys.argv[1])
