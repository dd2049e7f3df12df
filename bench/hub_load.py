"""Load on a real ``hubtune hub serve`` on 127.0.0.1 with the stock ``huggingface_hub`` client.

1. 8 concurrent pushers × 25 commits to one repo, then to 8 separate repos: every commit and file
   present, no 5xx.
2. Peak server RSS while a 1 GiB LFS file uploads, against idle.
3. 500 idle connections held open while a client pushes and pulls.

Run: ``.venv/bin/python bench/hub_load.py`` (about 2-3 minutes on 2 CPU cores); writes
``bench/results/hub-load.json`` and ``hub-load.md``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

os.environ.update(HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1",
                  HF_HUB_DISABLE_PROGRESS_BARS="1")

import psutil
from huggingface_hub import CommitOperationAdd, HfApi, snapshot_download

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "bench-token-0123456789abcdef"
PUSHERS, COMMITS = 8, 25


def start_server(work: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, HUBTUNE_HUB_TOKEN=TOKEN, HUBTUNE_HOME=str(work / "home"))
    cmd = [sys.executable, "-m", "hubtune", "hub", "serve", "--root", str(work / "root"), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=(work / "server.log").open("wb"), text=True, env=env)
    return proc, proc.stdout.readline().split(" at ")[1].split()[0]


def pushers(url: str, repos: list[str]) -> dict:
    """PUSHERS threads, thread i commits COMMITS times to repos[i % len(repos)]."""
    api = HfApi(endpoint=url, token=TOKEN)
    for repo in set(repos):
        api.create_repo(repo, exist_ok=True)
    errors: list[str] = []
    barrier = threading.Barrier(PUSHERS)

    def run(i: int) -> None:
        client = HfApi(endpoint=url, token=TOKEN)
        barrier.wait()
        for j in range(COMMITS):
            ops = [CommitOperationAdd(f"w{i}/c{j}.json", json.dumps({"i": i, "j": j}).encode()),
                   CommitOperationAdd("shared.json", json.dumps({"last": [i, j]}).encode())]
            try:
                client.create_commit(repos[i % len(repos)], ops, commit_message=f"w{i} c{j}")
            except Exception as e:  # counted and reported
                errors.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(PUSHERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    present, linear = 0, True
    for repo in sorted(set(repos)):
        commits = api.list_repo_commits(repo)
        titles = {c.title for c in commits}
        present += sum(f"w{i} c{j}" in titles for i in range(PUSHERS) for j in range(COMMITS)
                       if repos[i % len(repos)] == repo)
        files = set(api.list_repo_files(repo))
        present_files = sum(f"w{i}/c{j}.json" in files for i in range(PUSHERS) for j in range(COMMITS)
                            if repos[i % len(repos)] == repo)
        linear &= present_files == sum(1 for i in range(PUSHERS) if repos[i % len(repos)] == repo) * COMMITS
        linear &= len(commits) == 1 + sum(1 for i in range(PUSHERS) if repos[i % len(repos)] == repo) * COMMITS
    return {"commits_expected": PUSHERS * COMMITS, "commits_present": present, "errors": len(errors),
            "server_5xx": sum(" 5" in e or "50" in e[:40] for e in errors), "error_samples": errors[:3],
            "history_complete_and_files_present": linear, "wall_s": round(wall, 1),
            "commits_per_s": round(PUSHERS * COMMITS / wall, 1)}


def big_upload(url: str, proc: subprocess.Popen, work: Path, size: int = 1 << 30) -> dict:
    server = psutil.Process(proc.pid)
    idle = server.memory_info().rss
    path = work / "big.safetensors"
    with path.open("wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(size >> 20):
            f.write(block)
    peak, done = idle, threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.memory_info().rss)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    api = HfApi(endpoint=url, token=TOKEN)
    api.create_repo("bench/big", exist_ok=True)
    start = time.perf_counter()
    try:
        api.upload_file(path_or_fileobj=str(path), path_in_repo="big.safetensors", repo_id="bench/big")
    finally:
        done.set()
        watcher.join()
        path.unlink()
    ok = any(s.rfilename == "big.safetensors" and s.size == size for s in api.model_info("bench/big").siblings)
    return {"file_mib": size >> 20, "idle_rss_mib": round(idle / 2**20, 1), "peak_rss_mib": round(peak / 2**20, 1),
            "peak_minus_idle_mib": round((peak - idle) / 2**20, 1), "upload_wall_s": round(time.perf_counter() - start, 1),
            "committed": ok}


def idle_connections(url: str, work: Path, count: int = 500) -> dict:
    parts = urlsplit(url)
    socks = [socket.create_connection((parts.hostname, parts.port), timeout=10) for _ in range(count)]
    api = HfApi(endpoint=url, token=TOKEN)
    start = time.perf_counter()
    api.create_repo("bench/while-idle", exist_ok=True)
    api.upload_file(path_or_fileobj=b'{"ok": true}', path_in_repo="config.json", repo_id="bench/while-idle")
    got = Path(snapshot_download("bench/while-idle", endpoint=url, token=TOKEN, cache_dir=work / "cache"))
    wall = time.perf_counter() - start
    ok = json.loads((got / "config.json").read_text()) == {"ok": True}
    for s in socks:
        s.setblocking(False)
    open_now = 0
    for s in socks:
        try:
            open_now += s.recv(1) != b""
        except BlockingIOError:
            open_now += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    return {"idle_connections": count, "push_pull_ok": ok, "push_pull_wall_s": round(wall, 2),
            "idle_still_open_after_push_pull": open_now}


def main() -> int:
    if "--from-json" in sys.argv[1:]:  # measure nothing: re-render the Markdown from the committed JSON
        results = json.loads((RESULTS / "hub-load.json").read_text())
        (RESULTS / "hub-load.md").write_text(markdown(results))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, url = start_server(work)
        try:
            results = {
                "one_repo": pushers(url, ["bench/shared"]),
                "separate_repos": pushers(url, [f"bench/repo{i}" for i in range(PUSHERS)]),
                "idle": idle_connections(url, work),
                "lfs_1gib": big_upload(url, proc, work),
            }
        finally:
            proc.terminate()
            results_rc = proc.wait(30)
    results["server_exit_on_sigterm"] = results_rc
    results["machine"] = {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
                          "python": platform.python_version()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hub-load.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "hub-load.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    lines = ["# Hub load (`bench/hub_load.py`)", "",
             f"{r['machine']['cpus']} CPUs, load average {r['machine']['load_avg']} (server and clients share them).", "",
             "| case | commits present | errors (5xx) | every commit in history, files present | wall s | commits/s |",
             "|---|---|---|---|---|---|"]
    for name in ("one_repo", "separate_repos"):
        c = r[name]
        lines.append(f"| {PUSHERS} pushers × {COMMITS} commits, {name.replace('_', ' ')} | "
                     f"{c['commits_present']}/{c['commits_expected']} | {c['errors']} ({c['server_5xx']}) | "
                     f"{c['history_complete_and_files_present']} | {c['wall_s']} | {c['commits_per_s']} |")
    big, idle = r["lfs_1gib"], r["idle"]
    lines += ["", f"1 GiB LFS upload: server RSS idle {big['idle_rss_mib']} MiB, peak {big['peak_rss_mib']} MiB "
              f"(+{big['peak_minus_idle_mib']} MiB), {big['upload_wall_s']} s, committed: {big['committed']}.", "",
              f"{idle['idle_connections']} idle connections open: push + pull ok: {idle['push_pull_ok']} in "
              f"{idle['push_pull_wall_s']} s; still open afterwards: {idle['idle_still_open_after_push_pull']} "
              "(the server closes connections that send no request head within 10 s).", "",
              f"Server exit status after SIGTERM: {r['server_exit_on_sigterm']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
