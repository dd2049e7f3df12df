"""Push and pull native artifacts through the stock ``huggingface_hub`` client.

One code path to every hub: the embedded local hub (``hub="local"``, the default when no
``HF_ENDPOINT`` is set) is served in-process on a free 127.0.0.1 port for the duration of the
call, so pushes and pulls always speak the Hub HTTP API. Tokens come from the ``token``
argument, ``HF_TOKEN`` or the stored ``huggingface_hub`` login, and are never written anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hubtune.errors import HubError
from hubtune.hub.card_merge import merge_with_existing, retarget
from hubtune.hub.lfs import git_blob_sha1
from hubtune.hub.paths import hubtune_home, validate_repo_id
from hubtune.hub.server import running_server
from hubtune.hub.store import LocalHub
from hubtune.redact import scrub

if TYPE_CHECKING:
    from huggingface_hub import HfApi

log = logging.getLogger(__name__)
HF_DEFAULT = "https://huggingface.co"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
PUSH_PATTERNS = ("*.safetensors", "*.json", "*.txt", "*.model", "*.tiktoken", "README.md", "*.yaml", "*.yml", "*.png")
SKIP_DIRS = frozenset({"checkpoints", "runs", "__pycache__"})
BINARY_SUFFIXES = (".safetensors", ".png", ".model")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


LOCAL_SERVE_URL = "http://127.0.0.1:8765"  # where a plain `hubtune hub serve` serves the local hub


@dataclass(frozen=True)
class PushResult:
    """Where a push landed; ``str()`` gives the commit URL."""

    repo_id: str
    commit_sha: str
    commit_url: str
    endpoint: str

    def __str__(self) -> str:
        return self.commit_url


def select_endpoint(hub: str | None = None) -> str | None:
    """The hub URL to use, or ``None`` for the embedded local hub.

    Explicit ``hub`` first (``"local"``, ``"hf"`` or a URL), else ``HF_ENDPOINT``, else local.
    """
    choice = hub or os.environ.get("HF_ENDPOINT") or "local"
    if choice == "local":
        return None
    if choice in ("hf", "huggingface"):
        return HF_DEFAULT
    if not choice.startswith(("http://", "https://")):
        raise HubError(f"unknown hub {choice!r}: use 'local', 'hf' or an http(s) URL")
    return choice.rstrip("/")


def resolve_token(token: str | None = None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the stored ``huggingface_hub`` login."""
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token

    return get_token()


_settings_lock = threading.Lock()
_settings_users: list[tuple[bool, bool]] = []


@contextlib.contextmanager
def _client_settings(url: str) -> Iterator[None]:
    """Other hubs than huggingface.co: upload with LFS, not xet; loopback hubs ignore offline mode.

    ``huggingface_hub`` reads these as module constants; the first caller saves them and the
    last one out restores them, so concurrent calls in threads are safe.
    """
    from huggingface_hub import constants

    with _settings_lock:
        _settings_users.append((constants.HF_HUB_DISABLE_XET, constants.HF_HUB_OFFLINE))
        if url != HF_DEFAULT:
            constants.HF_HUB_DISABLE_XET = True
        if urlsplit(url).hostname in LOOPBACK:
            constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        with _settings_lock:
            saved = _settings_users.pop(0) if len(_settings_users) == 1 else None
            if saved is None:
                _settings_users.pop()
            else:
                constants.HF_HUB_DISABLE_XET, constants.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def connect(hub: str | None = None, token: str | None = None) -> Iterator[tuple[str, str | None, Path | None]]:
    """``(endpoint URL, token, cache dir or None)``; for the local hub a server runs meanwhile."""
    url = select_endpoint(hub)
    if url is None:
        key = secrets.token_urlsafe(24)  # a throw-away token: the user's HF token never goes to it
        with running_server(LocalHub().root, token=key) as server, _client_settings(server.url):
            yield server.url, key, hubtune_home() / "cache"
    else:
        with _client_settings(url):
            yield url, resolve_token(token), None


def _where(hub: str | None, url: str) -> str:
    """How messages name the hub: its URL, or the folder of the embedded local hub (not its throw-away port)."""
    return url if select_endpoint(hub) is not None else f"the local hub in {LocalHub().root}"


@contextlib.contextmanager
def _hub_errors(action: str, url: str = "", where: str = "") -> Iterator[None]:
    """Turn client errors into :class:`HubError` with the server's message (``url`` shown as ``where``)."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as e:
        text = f"{action} failed: {str(e).splitlines()[0]} ({getattr(e, 'server_message', '') or ''})"
        raise HubError(text.replace(url, where) if url and where and where != url else text) from e
    except (OSError, ValueError) as e:
        raise HubError(f"{action} failed: {type(e).__name__}: {e}") from e
    except Exception as e:
        if not type(e).__module__.startswith(("httpx", "httpcore")):
            raise
        raise HubError(
            f"{action} failed: cannot reach the hub ({type(e).__name__}: {e}); check the endpoint and the network, "
            "or set HF_HUB_OFFLINE=1 to use what is cached"
        ) from e


def collect_files(folder: Path) -> list[str]:
    """The files of an output folder that a push uploads; ``HubError`` if any pickle file is there."""
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder: push the output folder of a training run")
    picked, pickles = [], []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(p in SKIP_DIRS or p.startswith(".") for p in rel.parts):
            continue
        if rel.name.endswith(PICKLE_SUFFIXES):
            pickles.append(rel.as_posix())
        elif any(fnmatch(rel.name, pattern) for pattern in PUSH_PATTERNS):
            picked.append(rel.as_posix())
    if pickles:
        raise HubError(
            f"refusing to push pickle files (unsafe to load): {', '.join(pickles)}; save safetensors instead"
        )
    if not picked:
        raise HubError(f"nothing to push in {folder}: no safetensors, config, card or metrics files")
    return picked


def _check_no_secrets(folder: Path, files: list[str], secrets_: list[str | None]) -> None:
    needles = [s.encode() for s in secrets_ if s and len(s) >= 8]
    for rel in files:
        if needles and not rel.endswith(BINARY_SUFFIXES):
            data = (folder / rel).read_bytes()
            if any(n in data for n in needles):
                raise HubError(f"{rel} contains an access token: remove it before pushing")


def _card(api: HfApi, repo_id: str, revision: str, new: bytes, endpoint: str) -> bytes:
    """The model card to push: its usage retargeted to this repo and hub, merged with the repo's own card."""
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    new = retarget(new.decode(), repo_id, endpoint).encode()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            old = Path(api.hf_hub_download(repo_id, "README.md", revision=revision, cache_dir=tmp)).read_text()
        except (EntryNotFoundError, RevisionNotFoundError):
            return new
    from huggingface_hub import ModelCard

    merged = merge_with_existing(ModelCard(new.decode()), ModelCard(old, ignore_metadata_errors=True))
    return str(merged).encode()


def push(
    output_dir: str | os.PathLike[str],
    repo_id: str,
    *,
    hub: str | None = None,
    private: bool = False,
    branch: str | None = None,
    message: str | None = None,
    token: str | None = None,
) -> PushResult:
    """Upload an output folder's native artifacts to ``repo_id`` as one commit."""
    from huggingface_hub import CommitOperationAdd, HfApi

    folder = Path(output_dir)
    files = collect_files(folder)
    validate_repo_id(repo_id)
    revision = branch or "main"
    message = scrub(message or f"Upload {folder.name} with hubtune")
    with connect(hub, token) as (url, key, _), _hub_errors(f"push to {repo_id} at {_where(hub, url)}", url,
                                                           _where(hub, url)):
        _check_no_secrets(folder, files, [key, os.environ.get("HF_TOKEN")])
        api = HfApi(endpoint=url, token=key)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        ops = [CommitOperationAdd(rel, str(folder / rel)) for rel in files if rel != "README.md"]
        if "README.md" in files:
            ops.append(
                CommitOperationAdd("README.md", _card(api, repo_id, revision, (folder / "README.md").read_bytes(),
                                                      select_endpoint(hub) or "local"))
            )
        info = api.create_commit(repo_id, ops, commit_message=message, revision=revision)
    log.info("pushed %d file(s) to %s@%s (%s)", len(files), repo_id, revision, info.oid)
    if select_endpoint(hub) is None:  # the in-process server is gone: the page `hubtune hub serve` shows it on
        return PushResult(repo_id, info.oid, f"{LOCAL_SERVE_URL}/{repo_id}/commit/{info.oid}", "local")
    return PushResult(repo_id, info.oid, info.commit_url, url)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"ns/name@rev"`` → ``("ns/name", "rev")``."""
    repo_id, _, revision = spec.partition("@")
    return validate_repo_id(repo_id), revision or None


def verify_download(folder: Path, tree: list) -> None:
    """Check every file against the tree listing: sha256 for LFS files, git blob sha1 otherwise."""
    for entry in tree:
        path = folder / entry.path
        if not path.is_file():
            raise HubError(f"download incomplete: {entry.path} is missing from {folder}")
        if entry.lfs is not None:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            ok = digest.hexdigest() == entry.lfs.sha256 and path.stat().st_size == entry.lfs.size
        else:
            ok = git_blob_sha1(path.read_bytes()) == entry.blob_id
        if not ok:
            raise HubError(f"checksum mismatch for {entry.path} in {folder}: the download is corrupt")


def pull(
    spec: str, *, to: str | os.PathLike[str] | None = None, hub: str | None = None, token: str | None = None
) -> Path:
    """Download ``ns/name[@revision]`` (verified) into ``to`` or the cache; return the folder."""
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.hf_api import RepoFile

    repo_id, revision = parse_spec(spec)
    if select_endpoint(hub) is None and not LocalHub().exists(repo_id):
        raise HubError(
            f"repository {repo_id} not found in the local hub in {LocalHub().root}: push it there first "
            f"('hubtune push OUTPUT_DIR {repo_id}'), or name another hub with --hub / HF_ENDPOINT"
        )
    with connect(hub, token) as (url, key, cache), _hub_errors(f"pull of {spec} from {_where(hub, url)}", url,
                                                               _where(hub, url)):
        api = HfApi(endpoint=url, token=key)
        kwargs = {"endpoint": url, "token": key, "cache_dir": cache, "local_dir": to}
        if constants.HF_HUB_OFFLINE:  # cached copy only (verified when it was downloaded)
            return Path(snapshot_download(repo_id, revision=revision, **kwargs))
        sha = api.repo_info(repo_id, revision=revision).sha
        folder = Path(snapshot_download(repo_id, revision=sha, **kwargs))
        tree = [f for f in api.list_repo_tree(repo_id, revision=sha, recursive=True) if isinstance(f, RepoFile)]
    verify_download(folder, tree)
    return folder


def resolve_checkpoint(name_or_id: str, hub: str | None = None) -> Path:
    """A local folder for a checkpoint name: a folder as is, else a hub repo ``ns/name[@rev]``.

    Without ``hub`` or ``HF_ENDPOINT``: the local hub when it has the repo, else the Hugging Face Hub.
    """
    path = Path(name_or_id).expanduser()
    if path.exists():
        return path
    repo_id, _ = parse_spec(name_or_id)
    if hub is None and not os.environ.get("HF_ENDPOINT"):
        hub = "local" if LocalHub().exists(repo_id) else "hf"
    return pull(name_or_id, hub=hub)
