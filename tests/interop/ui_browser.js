// The operator dashboard in a real browser (tests/tests/ui.rs runs this): Debian's chromium,
// driven by playwright-core, checked with axe-core. The server and its repository are set up
// by the Rust test; this script signs in, runs a rollout story through the pages (one of its
// actions by keyboard alone), revokes a device, checks every page for accessibility at 1280 and
// 390 px and takes screenshots.
//
// Environment: AIRLOCK_UI_URL (server), AIRLOCK_UI_TOKEN (an admin token with the read,
// rollout and devices scopes, named AIRLOCK_UI_ACTOR), AIRLOCK_UI_SHOTS (screenshot
// directory), AIRLOCK_CHROMIUM (default /usr/bin/chromium).
"use strict";

const fs = require("fs");
const path = require("path");
const { check, withChromium, axeProblems } = require("./ui_common");

const base = process.env.AIRLOCK_UI_URL;
const token = process.env.AIRLOCK_UI_TOKEN;
const actor = process.env.AIRLOCK_UI_ACTOR;
const shots = process.env.AIRLOCK_UI_SHOTS;
const WIDTHS = [1280, 390];

function step(text) {
  console.log(`ui_browser: ${text}`);
}

const problems = [];

// axe on the page as it is, at each width, and a full-page screenshot at each.
async function audit(page, name) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    for (const problem of await axeProblems(page)) problems.push(`${name} at ${width}px: ${problem}`);
    // nothing may stick out sideways at a phone's width but scrollable tables
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) problems.push(`${name} at ${width}px: the page is ${overflow}px wider than the window`);
    await page.screenshot({ path: path.join(shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function api(method, url, body, headers = {}) {
  const r = await fetch(base + url, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  await withChromium(async (context) => {
    const page = context.pages()[0] || (await context.newPage());

    step("pages need a session");
    await page.goto(`${base}/ui/rollouts`);
    check(page.url().includes("/ui/sign-in?next="), `not sent to sign in: ${page.url()}`);
    check((await page.locator("#session-ended").count()) === 0, "a session-ended notice without a session");
    await audit(page, "sign-in");

    step("a wrong token is refused");
    await page.fill("#token", "not-the-token-0123456789");
    const [refused] = await Promise.all([
      page.waitForNavigation(),
      page.click("button[type=submit]"),
    ]);
    check(refused.status() === 401, `wrong token answered ${refused.status()}`);
    check((await page.textContent("[role=alert]")).includes("not a valid admin token"), "no refusal shown");

    step("sign in");
    await page.fill("#token", token);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    check(page.url().endsWith("/ui/rollouts"), `not back at the page asked for: ${page.url()}`);
    check((await page.textContent("header")).includes(actor), "the token's name is not shown");

    step("overview: a role near expiry is flagged");
    await page.goto(`${base}/ui`);
    const warning = await page.textContent("tr.warn .expiry-warning");
    check(/expires in \d+ days/.test(warning), `no expiry warning: ${warning}`);
    check((await page.locator("svg.timeline line.today").count()) === 1, "today is not marked");
    step("the timeline's bars are labelled: a visible product name on each, and a description");
    const bars = await page.locator("svg.timeline rect.window").count();
    const labels = await page.locator("svg.timeline text.bar-label").allTextContents();
    check(bars > 0 && labels.length === bars, `${bars} bars, ${labels.length} labels`);
    check(labels.includes("acme-cam"), `bar labels: ${labels}`);
    const described = await page.getAttribute("svg.timeline", "aria-describedby");
    const desc = await page.textContent(`svg.timeline #${described}`);
    check(desc.includes("acme-cam: supported from") && desc.includes("security updates until"), `timeline description: ${desc}`);
    await audit(page, "overview");

    step("product page: releases, the withdrawn one struck through");
    await page.goto(`${base}/ui/products/acme-cam`);
    check((await page.textContent("tr.withdrawn del")).includes("1.2.5"), "withdrawn release not struck through");
    check((await page.textContent("tr.withdrawn")).includes("bricks cameras"), "withdrawal reason missing");
    await audit(page, "product");

    step("start a rollout of the held release");
    await page.goto(`${base}/ui/rollouts`);
    await audit(page, "rollouts");
    await page.selectOption("#release", "acme-cam@1.3.0");
    await page.fill("#waves", "20%@0h, 100%@1000h");
    await page.fill("#pause_if", "failures>=50% after 10 reports");
    await Promise.all([page.waitForNavigation(), page.click("text=Start rollout")]);
    check(page.url().endsWith("/ui/rollouts/acme-cam/1.3.0"), `not on the rollout: ${page.url()}`);
    check((await page.textContent("#rollout-state")) === "active", "rollout not active");

    step("simulated devices check in and report failures");
    const wave = [];
    for (let i = 0; i < 300; i++) {
      const id = `cam-${i}`;
      const r = await api("POST", `/v1/devices/${id}/check-in`,
        { product: "acme-cam", version: "1.2.0", security_version: 3 });
      check(r.status === 200, `check-in ${r.status}`);
      if (r.json.decision === "update" && r.json.target.version === "1.3.0") wave.push(id);
    }
    check(wave.length >= 20, `only ${wave.length} devices in the first wave`);
    for (const [i, id] of wave.slice(0, 10).entries()) {
      const status = i < 6 ? "failed" : "installed";
      const r = await api("POST", `/v1/devices/${id}/reports`, { status, version: "1.3.0", code: "boot_loop" });
      check(r.status === 202, `report ${r.status}`);
    }

    step("the page shows the auto-pause and its reason without a reload");
    await page.waitForSelector("#auto-pause", { timeout: 15000 });
    const reason = await page.textContent("#auto-pause");
    check(reason.includes("health rule") && reason.includes("6 failed of 10"), `reason: ${reason}`);
    check((await page.textContent("#failed")) === "6", "failed count not updated live");
    step("the event history shows the auto-pause with its reason, without a reload");
    await page.waitForFunction(() => (document.querySelector(".events") || {}).textContent?.includes("rollout.auto_pause"),
      null, { timeout: 15000 });
    const pauseEvent = await page.locator(".events li", { hasText: "rollout.auto_pause" }).textContent();
    check(pauseEvent.includes("by server") && pauseEvent.includes("health rule") && pauseEvent.includes("6 failed of 10"),
      `auto-pause event: ${pauseEvent}`);
    await audit(page, "rollout");

    step("keyboard alone: the skip link first, every stop visibly focused, Resume pressed with Enter");
    await page.goto(page.url());
    const stops = [];
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press("Tab");
      const stop = await page.evaluate(() => {
        const e = document.activeElement;
        const s = getComputedStyle(e);
        const box = e.getBoundingClientRect();
        return {
          tag: e.tagName.toLowerCase(),
          text: (e.textContent || e.getAttribute("aria-label") || "").trim().replace(/\s+/g, " ").slice(0, 40),
          ring: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2,
          onScreen: box.width > 0 && box.height > 0 && box.right > 0 && box.left < window.innerWidth,
        };
      });
      stops.push(stop);
      check(stop.tag !== "body", `Tab left the page after ${stops.map((x) => x.text).join(" > ")}`);
      check(stop.ring, `no visible focus ring on ${stop.tag} "${stop.text}"`);
      check(stop.onScreen, `the focused ${stop.tag} "${stop.text}" is not on screen`);
      if (stop.tag === "button" && stop.text === "Resume") break;
    }
    check(stops[0].text === "Skip to content", `the first Tab stop is "${stops[0].text}"`);
    check(stops[stops.length - 1].text === "Resume", `Resume not reached by Tab: ${stops.map((x) => x.text).join(" > ")}`);
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    step("resume, then abort with a confirmation");
    check((await page.textContent("#rollout-state")) === "active", "not resumed");
    await Promise.all([page.waitForNavigation(), page.click("text=Abort…")]);
    check(page.url().endsWith("/ui/rollouts/acme-cam/1.3.0/abort"), "no confirmation step");
    await audit(page, "confirm-abort");
    await page.fill("#reason", "boot loops on SD-card models");
    await Promise.all([page.waitForNavigation(), page.click("#confirm")]);
    check((await page.textContent("#rollout-state")) === "aborted", "not aborted");
    check((await page.textContent(".events")).includes("rollout.auto_pause"), "auto-pause not in the events");

    step("a device's history: its check-ins as runs of one answer, the offer, its report");
    const failing = wave[0];
    const after = await api("POST", `/v1/devices/${failing}/check-in`,
      { product: "acme-cam", version: "1.2.0", security_version: 3 });
    check(after.status === 200 && after.json.decision !== "update", `check-in after the abort: ${JSON.stringify(after.json)}`);
    await page.goto(`${base}/ui/devices/${failing}`);
    const runs = await page.locator("#check-ins tbody tr").allTextContents();
    check(runs.length === 2, `check-in runs: ${JSON.stringify(runs)}`);
    check(runs[0].includes("(latest)") && !runs[0].includes("offered"), `the latest run: ${runs[0]}`);
    check(runs[1].includes("update: 1.3.0 offered") && !runs[1].includes("(latest)"), `the run of the offer: ${runs[1]}`);
    check((await page.textContent("section[aria-labelledby=offers-h]")).includes("1.3.0"), "the offer is not shown");
    const reports = await page.textContent("section[aria-labelledby=reports-h]");
    check(reports.includes("failed") && reports.includes("boot_loop"), `the report is not shown: ${reports}`);
    await audit(page, "device-history");

    step("an enrolment token, a device enrols, and is revoked");
    await page.goto(`${base}/ui/enrolment-tokens`);
    await page.selectOption("#product", "acme-cam");
    await page.fill("#uses", "1");
    await Promise.all([page.waitForNavigation(), page.click("text=Create token")]);
    const enrolment = await page.inputValue("#new-token");
    check(enrolment.length >= 32, "no token shown");
    await audit(page, "enrolment-tokens");
    const enrolled = await api("POST", "/v1/devices/cam-enrolled/enrol", { token: enrolment, product: "acme-cam" });
    check(enrolled.status === 200 || enrolled.status === 201, `enrol ${enrolled.status}`);
    const checkIn = await api("POST", "/v1/devices/cam-enrolled/check-in",
      { product: "acme-cam", version: "1.2.0", security_version: 3 },
      { authorization: `Bearer ${enrolled.json.credential}` });
    check(checkIn.status === 200, `enrolled check-in ${checkIn.status}`);
    await page.goto(`${base}/ui/devices?q=cam-enrolled`);
    await audit(page, "devices");
    await Promise.all([page.waitForNavigation(), page.click("a:text-is('cam-enrolled')")]);
    check((await page.textContent("#credential")).includes("enrolled for acme-cam"), "not enrolled");
    await Promise.all([page.waitForNavigation(), page.click("button:text-is('Revoke')")]);
    check((await page.textContent("#credential")).includes("revoked"), "not revoked");
    await audit(page, "device");
    step("reinstate the device: its id may enrol again");
    await Promise.all([page.waitForNavigation(), page.click("button:text-is('Reinstate')")]);
    check(!(await page.textContent("#credential")).includes("revoked"), "still revoked after reinstating");
    check((await page.locator("button:text-is('Reinstate')").count()) === 0, "reinstate offered again");

    step("an unused enrolment token is revoked from its row");
    await page.goto(`${base}/ui/enrolment-tokens`);
    await page.selectOption("#product", "acme-cam");
    await Promise.all([page.waitForNavigation(), page.click("text=Create token")]);
    const revokeButtons = page.locator("button[aria-label^='Revoke token']");
    check((await revokeButtons.count()) === 1, "the new token is not the only active one");
    const revokeLabel = await revokeButtons.first().getAttribute("aria-label");
    const tokenId = revokeLabel.replace("Revoke token ", "");
    await Promise.all([page.waitForNavigation(), revokeButtons.first().click()]);
    const row = await page.locator("tr", { hasText: tokenId }).textContent();
    check(row.includes("revoked"), `token ${tokenId} not revoked: ${row}`);
    check((await page.locator("button[aria-label^='Revoke token']").count()) === 0, "a revoke button is left");
    step("the audit log names the token for every action");
    await page.goto(`${base}/ui/audit?actor=${encodeURIComponent(actor)}`);
    const log = await page.textContent("table.audit");
    for (const action of ["ui.sign_in", "rollout.start", "rollout.resume", "rollout.abort", "enrolment_token.create",
      "enrolment_token.revoke", "device.revoke", "device.reinstate"]) {
      check(log.includes(action), `${action} by ${actor} not in the audit log`);
    }
    step("the audit log filters by action and time");
    await page.fill("#action", "device");
    await Promise.all([page.waitForNavigation(), page.click("button:text-is('Filter')")]);
    const byAction = await page.locator("table.audit tbody tr td:nth-child(4)").allTextContents();
    check(byAction.length >= 2 && byAction.every((a) => a.startsWith("device.")), `filtered by action: ${byAction}`);
    await page.goto(`${base}/ui/audit?actor=${encodeURIComponent(actor)}&until=2000-01-01`);
    check((await page.textContent("main")).includes("No entries match."), "the time filter let entries through");
    await audit(page, "audit");

    step("pages read without JavaScript (its one script blocked; the CSP allows no inline script)");
    const noScript = await context.newPage();
    await noScript.route("**/ui/assets/ui.js", (r) => r.abort());
    for (const url of ["/ui", "/ui/products/acme-cam", "/ui/rollouts", "/ui/rollouts/acme-cam/1.3.0",
      "/ui/devices?q=cam", "/ui/devices/cam-enrolled", "/ui/enrolment-tokens", "/ui/audit"]) {
      await noScript.goto(base + url);
      const text = await noScript.textContent("main");
      check(text.trim().length > 100, `${url} is empty without its script`);
    }
    await noScript.goto(`${base}/ui/rollouts/acme-cam/1.3.0`);
    check((await noScript.textContent("#rollout-state")) === "aborted", "the rollout's state is not shown without script");
    await noScript.close();

    step("sign out");
    await Promise.all([page.waitForNavigation(), page.click("button:text-is('Sign out')")]);
    await page.goto(`${base}/ui`);
    check(page.url().includes("/ui/sign-in"), "still signed in after signing out");
    // signing out cleared the cookie: a plain sign-in page (ui_expiry.js: a session that ended)
    check((await page.locator("#session-ended").count()) === 0, "a session-ended notice after signing out");

    if (problems.length) throw new Error(`accessibility or layout problems:\n  ${problems.join("\n  ")}`);
    step(`ok; screenshots in ${shots}`);
  });
}

main().catch((e) => {
  console.error(`ui_browser: FAILED: ${e.stack || e}`);
  process.exit(1);
});
