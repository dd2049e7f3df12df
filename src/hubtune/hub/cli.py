"""``hubtune push``, ``hubtune pull``, ``hubtune hub serve`` and ``hubtune hub token`` (see ``add_commands``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hubtune.errors import HubError

TOKEN_ENV = "HUBTUNE_HUB_TOKEN"


def _push(args: argparse.Namespace) -> int:
    from hubtune.hub.client import push

    result = push(
        args.output_dir, args.repo_id, hub=args.hub, private=args.private, branch=args.branch, message=args.message
    )
    print(f"pushed {args.output_dir} to {result.repo_id} (commit {result.commit_sha}): {result.commit_url}")
    if result.endpoint == "local":
        print("(the local hub: `hubtune hub serve` serves that page)")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from hubtune.hub.client import pull

    print(pull(args.repo, to=args.to, hub=args.hub))
    return 0


def default_tokens_file() -> Path:
    from hubtune.hub.paths import hubtune_home

    return hubtune_home() / "hub-tokens.json"


def _book(tokens_file: str | None):
    """Tokens from the file (``--tokens-file`` or the default one when present) plus ``$HUBTUNE_HUB_TOKEN``."""
    from hubtune.hub.users import TokenBook

    path = Path(tokens_file) if tokens_file else default_tokens_file()
    if tokens_file and not path.is_file():
        raise HubError(f"tokens file {path} not found: create it with 'hubtune hub token add USER --tokens-file {path}'")
    book = TokenBook.load(path) if path.is_file() else TokenBook()
    if os.environ.get(TOKEN_ENV):
        book.entries += TokenBook.single(os.environ[TOKEN_ENV]).entries
    return book, (path if path.is_file() else None)


def _serve(args: argparse.Namespace) -> int:
    from hubtune.hub.server import ServerLimits, make_server, serve

    if args.token is not None:
        raise HubError(
            f"--token is not accepted (a command line is visible to every user in 'ps'): set ${TOKEN_ENV} "
            "for a single user, or use --tokens-file (see 'hubtune hub token add')"
        )
    book, path = _book(args.tokens_file)
    limits = ServerLimits(max_connections=args.max_connections)
    served = make_server(args.root, args.host, args.port, book, args.public_url, limits, args.log_level)
    if not book:
        auth = "open access: anyone may write; set $HUBTUNE_HUB_TOKEN or --tokens-file"
    else:
        users = sorted({e.user for e in book.entries})
        auth = f"{len(book.entries)} token(s) for {', '.join(users)}" + (f" from {path}" if path else "")
    print(f"hubtune hub serving {served.hub.root} at {served.url} ({auth})", flush=True)
    serve(served)
    return 0


def _token(args: argparse.Namespace) -> int:
    from hubtune.hub.users import TokenBook

    path = Path(args.tokens_file) if args.tokens_file else default_tokens_file()
    book = TokenBook.load(path)
    if args.token_command == "add":
        token, entry = book.add(args.user, args.org, "read" if args.read_only else "write")
        book.save(path)
        print(f"token {entry.id} for {entry.user} ({entry.role}; orgs: {', '.join(entry.orgs) or '-'}) added to {path}")
        print(token)
    elif args.token_command == "list":
        for e in book.entries:
            print(f"{e.id}\t{e.user}\t{e.role}\t{','.join(e.orgs) or '-'}\t{e.created}")
        if not book:
            print(f"no tokens in {path}")
    else:
        gone = book.revoke(args.id_or_user)
        book.save(path)
        print(f"revoked {len(gone)} token(s): {', '.join(e.id for e in gone)}")
    return 0


def _add_hub_commands(p: argparse.ArgumentParser) -> None:
    hsub = p.add_subparsers(dest="hub_command", required=True, metavar="HUB_COMMAND")
    s = hsub.add_parser("serve", help="serve the local hub with the Hugging Face Hub HTTP API")
    s.add_argument("--root", default=None, help="hub folder (default: $HUBTUNE_HOME/hub)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default: 8765)")
    s.add_argument("--tokens-file", default=None, help="users and tokens ('hubtune hub token add'; default: "
                   "$HUBTUNE_HOME/hub-tokens.json when it exists); $HUBTUNE_HUB_TOKEN adds one all-namespace token")
    s.add_argument("--public-url", default=None, help="URL clients reach the server at (upload links use it)")
    s.add_argument("--max-connections", type=int, default=1000, help="connection cap (default: 1000)")
    s.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    s.add_argument("--token", default=None, help=argparse.SUPPRESS)
    s.set_defaults(func=_serve)

    t = hsub.add_parser("token", help="manage the users and tokens of 'hub serve'")
    t.add_argument("--tokens-file", default=None, help="default: $HUBTUNE_HOME/hub-tokens.json")
    tsub = t.add_subparsers(dest="token_command", required=True, metavar="TOKEN_COMMAND")
    a = tsub.add_parser("add", help="create a token for a user and print it (once)")
    a.add_argument("user", help="the user (its own namespace)")
    a.add_argument("--org", action="append", default=[], help="an organisation it may write ('*': every namespace)")
    a.add_argument("--read-only", action="store_true", help="read private repos of its namespaces, write nothing")
    tsub.add_parser("list", help="list tokens (ids, users, roles; never the tokens)")
    r = tsub.add_parser("revoke", help="remove a token by id, or every token of a user")
    r.add_argument("id_or_user")
    t.set_defaults(func=_token)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``push``, ``pull`` and ``hub serve|token`` on the main CLI's subparsers."""
    hub_help = "'local' (embedded hub), 'hf' or a URL (default: $HF_ENDPOINT, else local)"
    p = subparsers.add_parser("push", help="push an output folder to a hub as one commit")
    p.add_argument("output_dir", help="output folder of a training run")
    p.add_argument("repo_id", help="namespace/name")
    p.add_argument("--hub", default=None, help=hub_help)
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--branch", default=None, help="branch to commit to (created from main when missing)")
    p.add_argument("--message", default=None, help="commit message (secrets are masked)")
    p.set_defaults(func=_push)

    p = subparsers.add_parser("pull", help="download a hub repo (checksums verified)")
    p.add_argument("repo", metavar="REPO_ID[@REVISION]")
    p.add_argument("--to", default=None, help="folder to download into (default: the hub cache)")
    p.add_argument("--hub", default=None, help=hub_help)
    p.set_defaults(func=_pull)

    p = subparsers.add_parser("hub", help="the local hub: serve it, manage its tokens")
    _add_hub_commands(p)
