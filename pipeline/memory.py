"""Keep the memory of a long extraction flat.

Two allocators hold on to memory they no longer use while a run streams millions of reports:

- glibc raises its mmap threshold each time a large block is freed, so later large blocks (a
  chunk's rendered rows, its texts) come from the heap, which grows by fragments and is not
  given back. A fixed threshold keeps large blocks in mmap, returned to the system on free.
- pyarrow's default pool (jemalloc) keeps freed pages for reuse; the system allocator does not.

Measured with `modic extract --jobs 2` on 100,000 reports: the main process grew from 257 to
304 MiB during extraction before, and stays at 241-245 MiB with both settings.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's mallopt parameter number for the mmap threshold, and the threshold kept.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024


def steady_memory() -> None:
    """Apply both settings to this process (and the worker processes it forks later)."""
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    if sys.platform.startswith("linux"):
        try:
            # the process's own symbols include libc's (ctypes.util.find_library would fork a shell)
            ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to set
            pass
