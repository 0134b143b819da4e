// What the dashboard's browser scripts share (ui_browser.js, ui_expiry.js): Debian's chromium
// started by playwright-core with the same flags, and axe-core's serious and critical findings
// on a page.
//
// Environment: AIRLOCK_CHROMIUM (default /usr/bin/chromium).
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// A headless chromium with a fresh profile; `run(context)` uses it, then both are removed.
async function withChromium(run) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.AIRLOCK_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--no-first-run", "--disable-component-update", "--disable-sync",
    ],
    // axe is injected as a script: the dashboard's CSP (script-src 'self') would refuse it
    bypassCSP: true,
    viewport: { width: 1280, height: 900 },
  });
  try {
    await run(context);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// axe-core's serious and critical violations on the page as it is, one line each.
async function axeProblems(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  return result
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(", ")}`);
}

module.exports = { check, withChromium, axeProblems };
