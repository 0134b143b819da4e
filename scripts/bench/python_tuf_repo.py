#!/usr/bin/env python3
"""Builds and signs a TUF repository with python-tuf, doing what `airlock init`, `product add`
and `release add --from-dir` do, for the signer benchmark (scripts/bench-signer).

Usage: python_tuf_repo.py SOURCE_DIR OUT_DIR

Every file of SOURCE_DIR becomes a target `acme-cam/<file>` of a delegated role `acme-cam`
(one role, as airlock's product role), with a custom field of release information like
airlock's; each file is hashed (sha256) and copied into OUT_DIR/targets/acme-cam/. root,
targets, acme-cam, snapshot and timestamp are signed with fresh Ed25519 keys and written to
OUT_DIR/metadata/ (consistent snapshot names). Single-threaded, as python-tuf's own tooling.
"""

import os
import shutil
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

PRODUCT = "acme-cam"


def version_of(name: str) -> str:
    # acme-cam-0.0.17.bin -> 0.0.17 (the benchmark's files are named like this)
    stem = name.rsplit(".", 1)[0]
    return stem.rsplit("-", 1)[1]


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, out = sys.argv[1], sys.argv[2]
    # whole seconds: python-tuf refuses sub-second expiry dates
    now = datetime.now(timezone.utc).replace(microsecond=0)
    expires = now + timedelta(days=365)
    released = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    signers = {role: CryptoSigner.generate_ed25519() for role in ("root", "targets", "online")}
    product_signer = CryptoSigner.generate_ed25519()

    root = Root(expires=expires, consistent_snapshot=True)
    root.add_key(signers["root"].public_key, "root")
    root.add_key(signers["targets"].public_key, "targets")
    root.add_key(signers["online"].public_key, "snapshot")
    root.add_key(signers["online"].public_key, "timestamp")

    product = Targets(expires=expires)
    target_dir = os.path.join(out, "targets", PRODUCT)
    os.makedirs(target_dir, exist_ok=True)
    for name in sorted(os.listdir(source)):
        local = os.path.join(source, name)
        path = f"{PRODUCT}/{name}"
        target = TargetFile.from_file(path, local, ["sha256"])
        target.unrecognized_fields["custom"] = {
            "product": PRODUCT,
            "version": version_of(name),
            "security_version": 1,
            "kind": "feature",
            "released": released,
        }
        product.targets[path] = target
        shutil.copyfile(local, os.path.join(target_dir, name))

    targets = Targets(expires=expires)
    targets.delegations = Delegations(
        keys={product_signer.public_key.keyid: product_signer.public_key},
        roles={
            PRODUCT: DelegatedRole(
                name=PRODUCT,
                keyids=[product_signer.public_key.keyid],
                threshold=1,
                terminating=True,
                paths=[f"{PRODUCT}/*"],
            )
        },
    )
    snapshot = Snapshot(expires=expires)
    snapshot.meta["targets.json"] = MetaFile(version=1)
    snapshot.meta[f"{PRODUCT}.json"] = MetaFile(version=1)
    timestamp = Timestamp(expires=expires)
    timestamp.snapshot_meta = MetaFile(version=1)

    meta_dir = os.path.join(out, "metadata")
    os.makedirs(meta_dir, exist_ok=True)
    serializer = JSONSerializer(compact=False)
    for file_name, signed, signer in (
        ("1.root.json", root, signers["root"]),
        ("1.targets.json", targets, signers["targets"]),
        (f"1.{PRODUCT}.json", product, product_signer),
        ("1.snapshot.json", snapshot, signers["online"]),
        ("timestamp.json", timestamp, signers["online"]),
    ):
        md = Metadata(signed)
        md.sign(signer)
        md.to_file(os.path.join(meta_dir, file_name), serializer)
    print(f"{len(product.targets)} targets in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
