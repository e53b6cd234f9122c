"""Writing a file so that a crash never leaves it half-written."""
from __future__ import annotations

import contextlib
import os
import secrets


@contextlib.contextmanager
def atomic_write(path, op: str = "save"):
    """Yield a binary file whose content replaces `path` only if the block finishes.

    The data goes to a temporary file in the same folder (`.<name>.tmp-<pid>-<random>`),
    is flushed to disk, then renamed over `path`, and the folder is synced so the
    rename survives a power cut. `path` therefore always holds either its previous
    content or the complete new one; on an error the temporary file is removed.

    Args:
        path: the file to write (str or path-like).
        op: the operation's name, for error messages.
    """
    path = os.fsdecode(os.fspath(path))
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        # 0o666 minus the umask: the permissions an ordinary open() would give
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except FileNotFoundError as error:
        raise FileNotFoundError(error.errno, f"{op}: cannot write '{path}' - its directory "
                                f"'{directory}' does not exist", path) from None
    try:
        with open(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, where directories cannot be opened (nor need to be)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
