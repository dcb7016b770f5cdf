"""``dbutils.fs`` for local runs: ``ls``, ``mkdirs``, ``put``, ``head``, ``rm``, ``cp``, ``mv``.

Databricks paths map under the local state directory, so a notebook that writes
``/Volumes/main/raw/files/x.csv`` locally finds it again in the next task:

=============================================  ===========================================
path in the notebook                           local file
=============================================  ===========================================
``/Volumes/<c>/<s>/<v>/...``, ``dbfs:/Volumes/...``  ``<state_dir>/volumes/<c>/<s>/<v>/...``
``dbfs:/...``, ``/dbfs/...``                   ``<state_dir>/dbfs/...``
``file:/...``                                  ``/...`` (a local file, as on a cluster)
any other path                                 itself (relative: to the notebook's directory)
=============================================  ===========================================

Only ``dbutils.fs`` maps paths: plain ``open("/Volumes/...")`` does not (there is no FUSE mount
locally). Pass locations as job parameters so a local run can point them elsewhere.
"""

from __future__ import annotations

import os


class FileInfo:
    """One entry of ``dbutils.fs.ls``, shaped like Databricks' (directories end with ``/``)."""

    __slots__ = ("modificationTime", "name", "path", "size")

    def __init__(self, path: str, name: str, size: int, modification_time: int) -> None:
        self.path, self.name, self.size, self.modificationTime = path, name, size, modification_time

    def isDir(self) -> bool:
        return self.name.endswith("/")

    def isFile(self) -> bool:
        return not self.isDir()

    def __repr__(self) -> str:
        return (
            f"FileInfo(path={self.path!r}, name={self.name!r}, size={self.size}, "
            f"modificationTime={self.modificationTime})"
        )


class LocalFs:
    """The ``dbutils.fs`` stand-in; ``root`` is the state directory the mapped paths live under."""

    def __init__(self, root: str) -> None:
        self.volumes_root = os.path.join(root, "volumes")
        self.dbfs_root = os.path.join(root, "dbfs")

    def local_path(self, path: str) -> str:
        """The local file a Databricks path stands for (see the module docstring)."""
        if path.startswith("dbfs:/Volumes/"):
            path = path[len("dbfs:") :]
        if path.startswith("/Volumes/"):
            return os.path.join(self.volumes_root, path[len("/Volumes/") :])
        for prefix in ("dbfs:/", "/dbfs/"):
            if path.startswith(prefix):
                return os.path.join(self.dbfs_root, path[len(prefix) :])
        if path.startswith("file:"):
            return "/" + path[len("file:") :].lstrip("/")
        return os.path.abspath(path)

    def ls(self, path: str) -> list[FileInfo]:
        local = self.local_path(path)
        if not os.path.exists(local):
            raise FileNotFoundError(f"java.io.FileNotFoundException: No such file or directory: {path}")
        if not os.path.isdir(local):
            st = os.stat(local)
            return [FileInfo(path, os.path.basename(local), st.st_size, int(st.st_mtime * 1000))]
        out = []
        for entry in sorted(os.scandir(local), key=lambda e: e.name):
            st = entry.stat()
            name = entry.name + ("/" if entry.is_dir() else "")
            size = 0 if entry.is_dir() else st.st_size
            out.append(FileInfo(path.rstrip("/") + "/" + name, name, size, int(st.st_mtime * 1000)))
        return out

    def mkdirs(self, path: str) -> bool:
        os.makedirs(self.local_path(path), exist_ok=True)
        return True

    def put(self, path: str, contents: str, overwrite: bool = False) -> bool:
        local = self.local_path(path)
        if os.path.exists(local) and not overwrite:
            raise FileExistsError(f"File already exists: {path} (pass overwrite=True)")
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        with open(local, "w", encoding="utf-8") as f:
            f.write(contents)
        print(f"Wrote {len(contents.encode())} bytes.")
        return True

    def head(self, path: str, maxBytes: int = 65536) -> str:
        with open(self.local_path(path), "rb") as f:
            return f.read(maxBytes).decode("utf-8", errors="replace")

    def rm(self, path: str, recurse: bool = False) -> bool:
        local = self.local_path(path)
        if not os.path.lexists(local):
            return False
        if os.path.isdir(local) and not os.path.islink(local):
            if not recurse and os.listdir(local):
                raise OSError(f"{path} is a non-empty directory: pass recurse=True")
            import shutil

            shutil.rmtree(local)
        else:
            os.remove(local)
        return True

    def cp(self, from_: str, to: str, recurse: bool = False) -> bool:
        import shutil

        src, dst = self.local_path(from_), self.local_path(to)
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        if os.path.isdir(src):
            if not recurse:
                raise OSError(f"{from_} is a directory: pass recurse=True")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dst)
        return True

    def mv(self, from_: str, to: str, recurse: bool = False) -> bool:
        import shutil

        dst = self.local_path(to)
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        shutil.move(self.local_path(from_), dst)
        return True

    def help(self) -> None:
        print("dbutils.fs (local): ls, mkdirs, put, head, rm, cp, mv; see lambda_resolver.local.dbutils_fs")
