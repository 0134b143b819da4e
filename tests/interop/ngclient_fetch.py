#!/usr/bin/env python3
"""Interop check: python-tuf's ngclient refreshes from an airlock server and downloads a target.

usage: ngclient_fetch.py SERVER_URL TRUSTED_ROOT TARGET_NAME WORKDIR

Prints one JSON line: {"target", "length", "sha256", "root_version", "timestamp_version"}.
Exits non-zero (with python-tuf's error) if anything fails to verify.
"""
import hashlib
import json
import os
import sys

from tuf.ngclient import Updater


def main() -> int:
    server, trusted_root, target_name, workdir = sys.argv[1:5]
    metadata_dir = os.path.join(workdir, "metadata")
    download_dir = os.path.join(workdir, "downloads")
    os.makedirs(metadata_dir, exist_ok=True)
    os.makedirs(download_dir, exist_ok=True)
    with open(trusted_root, "rb") as f:
        bootstrap = f.read()
    updater = Updater(
        bootstrap=bootstrap,
        metadata_dir=metadata_dir,
        metadata_base_url=f"{server}/tuf/metadata/",
        target_base_url=f"{server}/tuf/targets/",
        target_dir=download_dir,
    )
    updater.refresh()
    info = updater.get_targetinfo(target_name)
    if info is None:
        print(f"target {target_name} not found", file=sys.stderr)
        return 3
    path = updater.download_target(info)
    with open(path, "rb") as f:
        data = f.read()
    trusted = updater._trusted_set  # read-only look at what was verified
    print(json.dumps({
        "target": target_name,
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "custom": info.custom,
        "root_version": trusted.root.version,
        "timestamp_version": trusted.timestamp.version,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
