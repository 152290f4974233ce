"""The output folder of a run: checked before work starts, locked while a run writes, committed whole.

Outputs are written under temporary names and renamed into place together at the end, with the
run's manifest (``run.json``) last, so the folder holds either the previous run's complete set or
this run's, never a mix; a failed run leaves its partial files behind nowhere but in ``.cache/``,
where the next run resumes from them.
"""
from __future__ import annotations

import glob
import json
import os
import tempfile

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

MANIFEST = "run.json"
OUTPUT_NAMES = ("detections.npz", "tracks.json", "tracks.png", "motion.npz", "motion.bvh", "preview.mp4")
PER_PERSON_PATTERNS = ("person_*.npz", "person_*.bvh")   # --all-people


class OutputError(OSError):
    """An output folder that cannot be used: not a folder, not writable, or busy with another run."""


class OutputFolder:
    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.cache = os.path.join(self.path, ".cache")
        self._staged: dict[str, str] = {}
        self._lock_handle = None

    def check(self) -> "OutputFolder":
        """Create the folder and prove it writable, with a message a user can act on."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise OutputError(f"output folder {self.path} is a file; choose a folder with --out")
        parent = self.path
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise OutputError(f"cannot create output folder {self.path}: {parent} is a file, not a folder")
        try:
            os.makedirs(self.cache, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path):
                pass
        except OSError as exc:
            raise OutputError(f"cannot write into output folder {self.path}: {exc.strerror or exc}") from exc
        return self

    def lock(self) -> "OutputFolder":
        """Hold the folder for this run; a second run into the same folder stops with a clear error."""
        path = os.path.join(self.cache, "lock")
        handle = open(path, "a+")
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise OutputError(f"another run is writing into {self.path}; wait for it to finish or "
                                  "choose another --out") from None
        self._lock_handle = handle
        return self

    def unlock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing releases the lock
            self._lock_handle = None

    def __enter__(self) -> "OutputFolder":
        return self.check().lock()

    def __exit__(self, *exc_info) -> None:
        self.discard()
        self.unlock()

    def staged(self, name: str) -> str:
        """Where to write output ``name`` until ``commit``: a temporary name with the same extension."""
        stem, ext = os.path.splitext(name)
        path = os.path.join(self.path, f".{stem}.partial{ext}")
        self._staged[name] = path
        return path

    def final(self, name: str) -> str:
        return os.path.join(self.path, name)

    def commit(self, manifest: dict) -> dict[str, str]:
        """Move every staged output into place, drop older outputs this run did not make, write the manifest."""
        manifest_path = self.final(MANIFEST)
        if os.path.exists(manifest_path):
            os.remove(manifest_path)  # while the set is being replaced, the folder has no manifest
        older = [self.final(name) for name in OUTPUT_NAMES]
        older += [path for pattern in PER_PERSON_PATTERNS for path in glob.glob(os.path.join(self.path, pattern))]
        for path in older:
            if os.path.basename(path) not in self._staged and os.path.exists(path):
                os.remove(path)
        for name, path in self._staged.items():
            os.replace(path, self.final(name))
        paths = {name: self.final(name) for name in self._staged}
        partial = manifest_path + ".partial"
        with open(partial, "w") as handle:
            json.dump({**manifest, "outputs": sorted(paths)}, handle, indent=2)
        os.replace(partial, manifest_path)
        self._staged = {}
        return paths

    def discard(self) -> None:
        """Remove staged outputs that were not committed (the run failed or was stopped)."""
        for path in self._staged.values():
            if os.path.exists(path):
                os.remove(path)
        self._staged = {}
