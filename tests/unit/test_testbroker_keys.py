"""The embedded test broker's signing keys are shared by every server process through a key file."""
from __future__ import annotations

import importlib
import json
import multiprocessing

# (the package's function `provider` hides the module of the same name from a plain import)
provider = importlib.import_module("portal.testbroker.provider")


def _kid_in_a_new_process(path: str, queue) -> None:
    from pathlib import Path

    provider._keys.clear()
    provider.use_key_file(Path(path))
    queue.put(provider.signing_key("api").kid)


def test_every_process_signs_with_the_same_key_from_the_key_file(tmp_path):
    path = tmp_path / "testbroker-keys.json"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_kid_in_a_new_process, args=(str(path), queue)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    kids = {queue.get(timeout=5) for _ in workers}
    assert len(kids) == 1
    stored = json.loads(path.read_text())
    assert stored["api"]["kid"] in kids and "d" in stored["api"]  # the private key, kept for the next start
    assert oct(path.stat().st_mode & 0o777) == "0o600"
