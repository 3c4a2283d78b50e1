// The admin UI of npm @socket.io/admin-ui (its ui/dist, served here from a loopback port) in
// Debian's headless Chromium (playwright-core; never a downloaded browser) against
// `sio_demo --admin-ui`.
//
// usage: node admin_ui.mjs SIO_DEMO_BINARY SCREENSHOT.png
//
// Starts the demo on a free loopback port (its CORS allowing this page's origin), connects
// three demo clients into rooms (lobby: two of them; vip: one), then in the dashboard: a wrong
// password shows "Invalid credentials"; admin / changeit logs in; the sockets page lists the
// three clients' socket ids (screenshot); the rooms page lists lobby and vip. Prints one JSON
// line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { io } from "socket.io-client";

const [demoBinary, screenshot] = process.argv.slice(2);
if (!demoBinary || !screenshot) {
  console.error("usage: node admin_ui.mjs SIO_DEMO_BINARY SCREENSHOT.png");
  process.exit(2);
}
const STEP_TIMEOUT = 20_000;

// ---- the dashboard's files, from a loopback port ----------------------------------------
const require = createRequire(import.meta.url);
const UI_DIST = join(dirname(require.resolve("@socket.io/admin-ui/package.json")), "ui/dist");
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
  ".svg": "image/svg+xml", ".png": "image/png", ".map": "application/json",
};

function serveUi() {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    let file = join(UI_DIST, path);
    // A history-mode route (/sockets/) is the app's index.html; nothing outside ui/dist.
    if (!file.startsWith(UI_DIST) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      file = join(UI_DIST, "index.html");
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ---- sio_demo --admin-ui -------------------------------------------------------------------
function startDemo(uiOrigin) {
  const child = spawn(demoBinary,
    ["--addr", "127.0.0.1:0", "--admin-ui", "--admin-ui-origin", uiOrigin],
    { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`sio_demo did not start: ${out}`)), STEP_TIMEOUT);
    child.on("exit", (code) => reject(new Error(`sio_demo exited (${code}): ${out}`)));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: `http://${m[1]}` });
      }
    });
  });
}

async function demoClient(url, rooms) {
  const socket = io(url, { transports: ["websocket"], reconnection: false });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  for (const room of rooms) {
    const ok = await socket.timeout(STEP_TIMEOUT).emitWithAck("join", room);
    if (ok !== true) throw new Error(`join ${room}: ${ok}`);
  }
  return socket;
}

// ---- the dashboard -------------------------------------------------------------------------
async function logIn(page, serverUrl, password) {
  const modal = page.locator(".v-dialog--active");
  await modal.getByLabel("Server URL").fill(serverUrl);
  await modal.getByLabel("Username").fill("admin");
  await modal.getByLabel("Password").fill(password);
  if (!(await modal.getByLabel("Admin namespace").isVisible())) {
    await modal.getByText("Advanced options").click();
  }
  await modal.getByLabel("Admin namespace").fill("/admin-ui");
  await modal.getByRole("button", { name: "Connect" }).click();
}

const uiServer = await serveUi();
const uiBase = `http://127.0.0.1:${uiServer.address().port}`;
const cleanups = [async () => uiServer.close()];
let failed = false;
try {
  const demo = await startDemo(uiBase);
  cleanups.push(async () => demo.child.kill());
  const clients = [
    await demoClient(demo.url, ["lobby"]),
    await demoClient(demo.url, ["lobby", "vip"]),
    await demoClient(demo.url, []),
  ];
  cleanups.push(async () => clients.forEach((c) => c.close()));

  const profile = mkdtempSync(join(tmpdir(), "wsx-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  cleanups.push(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  // Hermetic: the dashboard's fonts and icons (Google Fonts, a CDN) are not fetched.
  await context.route((url) => url.hostname !== "127.0.0.1", (route) => route.abort());
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT);
  await page.goto(uiBase);

  // A wrong password: the dashboard's own message for the server's "invalid credentials".
  await logIn(page, demo.url, "wrong");
  await page.getByText("Invalid credentials").waitFor();
  const invalidCredentials = true;

  await logIn(page, demo.url, "changeit");
  await page.locator(".v-dialog--active").waitFor({ state: "detached" });

  // The sockets page lists the demo's three sockets of `/` by id.
  await page.locator("nav").getByText("Sockets", { exact: true }).click();
  for (const client of clients) {
    await page.getByText(client.id, { exact: true }).first().waitFor();
  }
  const socketsShown = clients.length;
  await page.mouse.move(0, 0);
  await page.screenshot({ path: screenshot, animations: "disabled" });

  // The rooms page lists the rooms (without the private ones, the sockets' own ids).
  await page.locator("nav").getByText("Rooms", { exact: true }).click();
  const roomsShown = [];
  for (const room of ["lobby", "vip"]) {
    await page.getByText(room, { exact: true }).first().waitFor();
    roomsShown.push(room);
  }
  console.log(JSON.stringify({ invalidCredentials, socketsShown, roomsShown }));
} catch (err) {
  failed = true;
  console.error(`admin UI test failed: ${err.stack || err}`);
} finally {
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch(() => {});
  }
}
process.exit(failed ? 1 : 0);
