#!/usr/bin/env node
// Interop check: tuf-js (npm) refreshes from an airlock server and downloads a target.
// usage: tufjs_fetch.js SERVER_URL TRUSTED_ROOT TARGET_NAME WORKDIR
// Prints one JSON line: {"target", "length", "sha256", "custom"}; exits non-zero on any error.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { Updater } = require('tuf-js');

async function main() {
  const [server, trustedRoot, targetName, workdir] = process.argv.slice(2);
  const metadataDir = path.join(workdir, 'metadata');
  const targetDir = path.join(workdir, 'targets');
  fs.mkdirSync(metadataDir, { recursive: true });
  fs.mkdirSync(targetDir, { recursive: true });
  if (!fs.existsSync(path.join(metadataDir, 'root.json'))) {
    fs.copyFileSync(trustedRoot, path.join(metadataDir, 'root.json'));
  }
  const updater = new Updater({
    metadataBaseUrl: `${server}/tuf/metadata`,
    targetBaseUrl: `${server}/tuf/targets`,
    metadataDir,
    targetDir,
  });
  await updater.refresh();
  const info = await updater.getTargetInfo(targetName);
  if (!info) throw new Error(`target ${targetName} not found`);
  const file = await updater.downloadTarget(info, path.join(targetDir, path.basename(targetName)));
  const data = fs.readFileSync(file);
  console.log(JSON.stringify({
    target: targetName,
    length: data.length,
    sha256: crypto.createHash('sha256').update(data).digest('hex'),
    custom: info.custom,
  }));
}

main().catch((e) => {
  console.error(`tuf-js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
