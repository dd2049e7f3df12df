"""``hubtune push``, ``hubtune pull`` and ``hubtune hub serve`` (registered by ``add_commands``)."""

from __future__ import annotations

import argparse
import os


def _push(args: argparse.Namespace) -> int:
    from hubtune.hub.client import push

    result = push(
        args.output_dir, args.repo_id, hub=args.hub, private=args.private, branch=args.branch, message=args.message
    )
    print(f"pushed {args.output_dir} to {result.repo_id} (commit {result.commit_sha}): {result.commit_url}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from hubtune.hub.client import pull

    print(pull(args.repo, to=args.to, hub=args.hub))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hubtune.hub.server import serve

    serve(args.root, args.host, args.port, args.token or os.environ.get("HUBTUNE_HUB_TOKEN"), args.tokens_file)
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``push``, ``pull`` and ``hub serve`` on the main CLI's subparsers."""
    hub_help = "'local' (embedded hub), 'hf' or a URL (default: $HF_ENDPOINT, else local)"
    p = subparsers.add_parser("push", help="push an output folder to a hub as one commit")
    p.add_argument("output_dir", help="output folder of a training run")
    p.add_argument("repo_id", help="namespace/name")
    p.add_argument("--hub", default=None, help=hub_help)
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--branch", default=None, help="branch to commit to (created from main when missing)")
    p.add_argument("--message", default=None, help="commit message")
    p.set_defaults(func=_push)

    p = subparsers.add_parser("pull", help="download a hub repo (checksums verified)")
    p.add_argument("repo", metavar="REPO_ID[@REVISION]")
    p.add_argument("--to", default=None, help="folder to download into (default: the hub cache)")
    p.add_argument("--hub", default=None, help=hub_help)
    p.set_defaults(func=_pull)

    p = subparsers.add_parser("hub", help="the local hub")
    hsub = p.add_subparsers(dest="hub_command", required=True, metavar="HUB_COMMAND")
    s = hsub.add_parser("serve", help="serve the local hub with the Hugging Face Hub HTTP API")
    s.add_argument("--root", default=None, help="hub folder (default: $HUBTUNE_HOME/hub)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default: 8765)")
    s.add_argument("--token", default=None, help="token required for writes and private repos (or $HUBTUNE_HUB_TOKEN)")
    s.add_argument("--tokens-file", default=None, help="file with one accepted token per line")
    s.set_defaults(func=_serve)
