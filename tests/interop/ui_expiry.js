// Dashboard sessions expire on the server, seen from a real browser (tests/tests/ui.rs runs
// this against a server started with a lifetime of a few seconds, `--ui-session-seconds`):
// Debian's chromium driven by playwright-core, the sign-in page checked with axe-core.
//
// Signs in and sees the overview; keeps the session cookie's value; past the lifetime an open
// rollout page goes to sign in by itself, and a page asked for lands on sign-in with the notice
// and the page as `next`, though the browser still holds the cookie; the old value put back as a
// cookie that never expires is refused all the same; a change sent from a form opened before
// (with its CSRF token) is refused with 401; signing in again leads back to the page asked for.
//
// Environment: AIRLOCK_UI_URL (server), AIRLOCK_UI_TOKEN (an admin token with the read and
// rollout scopes, named AIRLOCK_UI_ACTOR), AIRLOCK_UI_SESSION_SECONDS (the server's
// --ui-session-seconds), AIRLOCK_CHROMIUM (default /usr/bin/chromium).
"use strict";

const { check, withChromium, axeProblems } = require("./ui_common");

const base = process.env.AIRLOCK_UI_URL;
const token = process.env.AIRLOCK_UI_TOKEN;
const actor = process.env.AIRLOCK_UI_ACTOR;
const lifetimeMs = Number(process.env.AIRLOCK_UI_SESSION_SECONDS) * 1000;
const NOTICE = "Your session expired or was ended: sign in again.";
const ROLLOUT = "/ui/rollouts/acme-cam/1.3.0";

function step(text) {
  console.log(`ui_expiry: ${text}`);
}

// The page is the sign-in form, sent there for `next`; with the ended-session notice or not.
async function onSignIn(page, next, ended) {
  const url = new URL(page.url());
  check(url.pathname === "/ui/sign-in", `not on the sign-in page: ${page.url()}`);
  check(url.searchParams.get("next") === next, `next is not ${next}: ${page.url()}`);
  check(await page.inputValue("input[name=next]") === next, `the form does not go back to ${next}`);
  const notice = page.locator("#session-ended");
  if (ended) {
    check(url.searchParams.get("expired") === "1", `no expired=1: ${page.url()}`);
    check(await notice.isVisible(), "the session-ended notice is not visible");
    check((await notice.textContent()).trim() === NOTICE, `notice: ${await notice.textContent()}`);
    check(await notice.getAttribute("role") === "status", "the notice is not a status message");
  } else {
    check((await notice.count()) === 0, `a session-ended notice without a session: ${page.url()}`);
  }
}

async function sessionCookie(context) {
  return (await context.cookies(`${base}/ui`)).find((c) => c.name === "airlock_session");
}

async function main() {
  check(lifetimeMs > 0, "AIRLOCK_UI_SESSION_SECONDS is not set");
  await withChromium(async (context) => {
    const page = context.pages()[0] || (await context.newPage());

    step("no session: the plain sign-in page");
    await page.goto(`${base}/ui`);
    await onSignIn(page, "/ui", false);

    step("sign in, see the overview");
    await page.fill("#token", token);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    const signedIn = Date.now();
    check(new URL(page.url()).pathname === "/ui", `not on the overview: ${page.url()}`);
    check((await page.textContent("h1")).includes("Overview"), `not the overview: ${await page.textContent("h1")}`);
    check((await page.textContent("header")).includes(actor), "the token's name is not shown");
    const old = await sessionCookie(context);
    check(old && old.value.length >= 32, "no session cookie");

    step("a form opened in another tab while signed in, and the rollout page (it refreshes itself)");
    const other = await context.newPage();
    await other.goto(`${base}/ui/rollouts`);
    check(new URL(other.url()).pathname === "/ui/rollouts", `rollouts page: ${other.url()}`);
    await other.selectOption("#release", "acme-cam@1.3.0");
    await page.goto(base + ROLLOUT);
    check(new URL(page.url()).pathname === ROLLOUT, `rollout page: ${page.url()}`);
    check((await page.textContent("#rollout-state")) === "held", "the release is not held");
    check(Date.now() - signedIn < lifetimeMs, "the steps above took longer than the session lasts: raise it");

    step("past the lifetime the open rollout page goes to sign in by itself, with the notice");
    await page.waitForURL((u) => u.pathname === "/ui/sign-in", { timeout: lifetimeMs + 20000 });
    const lasted = Date.now() - signedIn;
    check(lasted > lifetimeMs - 1000, `the session ended after ${lasted} ms, before its lifetime`);
    await page.waitForLoadState();
    await onSignIn(page, ROLLOUT, true);

    step("the browser still sends the cookie: the server ended the session");
    const kept = await sessionCookie(context);
    check(kept && kept.value === old.value, "the browser dropped the cookie");
    check(kept.expires === -1 || kept.expires * 1000 > Date.now(), "the cookie expired in the browser");
    await page.goto(`${base}/ui/devices?q=cam`);
    await onSignIn(page, "/ui/devices?q=cam", true);

    step("the sign-in page with the notice: no serious or critical accessibility problem");
    const problems = [];
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      for (const p of await axeProblems(page)) problems.push(`sign-in (session ended) at ${width}px: ${p}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) problems.push(`sign-in (session ended) at ${width}px: ${overflow}px wider than the window`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    check(problems.length === 0, `accessibility or layout problems:\n  ${problems.join("\n  ")}`);

    step("the old value put back as a cookie that never expires is refused all the same");
    await context.clearCookies();
    await context.addCookies([{
      name: "airlock_session", value: old.value, domain: new URL(base).hostname, path: "/ui",
      httpOnly: true, sameSite: "Strict",
    }]);
    check((await sessionCookie(context)).expires === -1, "the cookie put back has an expiry");
    await page.goto(`${base}/ui`);
    await onSignIn(page, "/ui", true);

    step("a change from the form opened before (its CSRF token, the old cookie): 401, nothing done");
    const [refused] = await Promise.all([other.waitForNavigation(), other.click("text=Start rollout")]);
    check(refused.status() === 401, `the change answered ${refused.status()}`);
    check((await other.textContent("main")).includes("session expired or was ended"),
      `refusal: ${await other.textContent("main")}`);
    await other.close();

    step("signing in again leads back to the page asked for; nothing was started");
    await page.goto(base + ROLLOUT);
    await onSignIn(page, ROLLOUT, true);
    await page.fill("#token", token);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    check(new URL(page.url()).pathname === ROLLOUT, `not back on the rollout: ${page.url()}`);
    check((await page.textContent("#rollout-state")) === "held", "the refused change started the rollout");
    const renewed = await sessionCookie(context);
    check(renewed && renewed.value !== old.value, "signing in again kept the old session id");
    step("ok");
  });
}

main().catch((e) => {
  console.error(`ui_expiry: FAILED: ${e.stack || e}`);
  process.exit(1);
});
