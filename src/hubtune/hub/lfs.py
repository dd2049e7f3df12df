"""Git-LFS rules shared by the store, the server and the client (the Hugging Face Hub defaults)."""

from __future__ import annotations

import hashlib
import re
from fnmatch import fnmatch

LFS_THRESHOLD = 10 * 1024 * 1024
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.onnx", "*.msgpack", "*.h5", "*.ckpt", "*.pkl", "*.npz")
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"
_OID = re.compile(r"^[0-9a-f]{64}$")


def is_lfs_oid(oid: object) -> bool:
    """Whether ``oid`` is a sha256 hex digest (the id of an LFS object)."""
    return isinstance(oid, str) and bool(_OID.match(oid))


def is_lfs_path(path: str, size: int) -> bool:
    """Whether the Hub would store this file with LFS (large or a weights format)."""
    name = path.rsplit("/", 1)[-1]
    return size > 0 and (size > LFS_THRESHOLD or any(fnmatch(name, pat) for pat in LFS_PATTERNS))


def lfs_pointer(oid: str, size: int) -> bytes:
    """The git-LFS pointer file committed in place of a large file."""
    return LFS_POINTER_PREFIX + f"oid sha256:{oid}\nsize {size}\n".encode()


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """``(oid, size)`` when ``data`` is an LFS pointer file, else ``None``."""
    if len(data) > 512 or not data.startswith(LFS_POINTER_PREFIX):
        return None
    fields = dict(line.split(" ", 1) for line in data.decode(errors="replace").splitlines()[1:] if " " in line)
    oid = fields.get("oid", "").removeprefix("sha256:")
    size = fields.get("size", "")
    return (oid, int(size)) if is_lfs_oid(oid) and size.isdigit() else None


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content (the Hub's ETag for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def gitattributes() -> bytes:
    """The ``.gitattributes`` of a new repo, naming the LFS patterns like the Hub does."""
    return "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()
