"""Users and rights of the served hub: a tokens file mapping each token to a user, orgs and a role.

The file (``hubtune hub token add/list/revoke`` manage it) holds only the sha256 of each token,
so reading it never reveals a token; lookups compare digests with :func:`hmac.compare_digest`.
A user writes its own namespace and its organisations' (``"*"``: every namespace); read-only
tokens write nothing. Private repos are readable only by users who could write their namespace.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import string
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from hubtune.atomic import atomic_write_text
from hubtune.errors import HubError

TOKEN_PREFIX = "hth_"
ROLES = ("read", "write")
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class User:
    """Who a token belongs to and what it may do."""

    name: str
    orgs: tuple[str, ...] = ()
    write: bool = True

    def owns(self, namespace: str) -> bool:
        """Whether ``namespace`` is the user's own, one of its orgs, or any (``"*"``)."""
        return namespace == self.name or namespace in self.orgs or "*" in self.orgs

    def can_write(self, namespace: str) -> bool:
        return self.write and self.owns(namespace)


@dataclass
class TokenEntry:
    id: str
    user: str
    sha256: str
    orgs: list[str] = field(default_factory=list)
    role: str = "write"
    created: str = ""

    def as_user(self) -> User:
        return User(self.user, tuple(self.orgs), self.role == "write")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (``hth_`` + 40 letters and digits)."""
    return TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))


class TokenBook:
    """The tokens a server accepts. Empty means open access (anyone reads public repos and writes)."""

    def __init__(self, entries: list[TokenEntry] | None = None) -> None:
        self.entries = list(entries or [])

    @classmethod
    def single(cls, token: str, user: str = "hubtune") -> TokenBook:
        """One token that reads and writes every namespace (``HUBTUNE_HUB_TOKEN``, the embedded hub)."""
        return cls([TokenEntry("env", user, _digest(token), ["*"], "write")])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TokenBook:
        """Read a tokens file; a missing file is an empty book (``token add`` creates it)."""
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = [TokenEntry(**item) for item in raw["tokens"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise HubError(
                f"cannot read the tokens file {path}: {type(e).__name__}: {e}; "
                "manage it with 'hubtune hub token add/list/revoke'"
            ) from None
        return cls(entries)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the book atomically, readable by its owner only."""
        text = json.dumps({"version": 1, "tokens": [asdict(e) for e in self.entries]}, indent=2) + "\n"
        atomic_write_text(path, text)
        os.chmod(path, 0o600)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def authenticate(self, token: str) -> User | None:
        """The user of ``token``, or ``None``; compares every digest in constant time."""
        digest, found = _digest(token), None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.sha256) and found is None:
                found = entry
        return found.as_user() if found else None

    def add(self, user: str, orgs: list[str] | None = None, role: str = "write") -> tuple[str, TokenEntry]:
        """A new token for ``user``: ``(the token, shown once; its entry)``."""
        from hubtune.hub.paths import validate_repo_id

        for name in [user, *(o for o in orgs or [] if o != "*")]:
            validate_repo_id(f"{name}/x")  # same rules as a namespace
        if role not in ROLES:
            raise HubError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        token = new_token()
        ids = {e.id for e in self.entries}
        entry_id = next(i for i in (secrets.token_hex(4) for _ in range(100)) if i not in ids)
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = TokenEntry(entry_id, user, _digest(token), sorted(set(orgs or [])), role, created)
        self.entries.append(entry)
        return token, entry

    def revoke(self, id_or_user: str) -> list[TokenEntry]:
        """Remove the token with this id, or every token of this user; ``HubError`` when none matches."""
        gone = [e for e in self.entries if id_or_user in (e.id, e.user)]
        if not gone:
            raise HubError(f"no token with id or user {id_or_user!r}: see 'hubtune hub token list'")
        self.entries = [e for e in self.entries if e not in gone]
        return gone
