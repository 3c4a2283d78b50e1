// Two pages of Debian's Chromium on the `wsx serve` demo: both join the chat, one says
// something, the other shows it, the online count moves, the browser's own WebSocket
// negotiated permessage-deflate with our server, and a page leaving is announced.
//
//   node chat.mjs BASE_URL [SCREENSHOT.png]
//
// Uses playwright-core with the system browser (/usr/bin/chromium or $CHROMIUM); it never
// downloads one.
import { run } from "./launch.mjs";

const [base, screenshot] = process.argv.slice(2);
if (!base) {
  console.error("usage: node chat.mjs BASE_URL [SCREENSHOT.png]");
  process.exit(2);
}
const step = 10_000;
await run(async (context) => {
  const a = await context.newPage();
  const b = await context.newPage();
  for (const page of [a, b]) {
    await page.goto(base + "/");
    await page.waitForSelector("body[data-state=open]", { timeout: step });
  }
  const extensions = await a.textContent("#extensions");
  if (!extensions.includes("permessage-deflate")) {
    throw new Error(`the browser's WebSocket did not negotiate permessage-deflate: ${extensions}`);
  }
  for (const [page, nick] of [[a, "ana"], [b, "bea"]]) {
    await page.fill("#nick", nick);
    await page.click("#join-button");
  }
  for (const page of [a, b]) {
    await page.waitForFunction(() => document.getElementById("online").textContent === "2", null, { timeout: step });
  }
  await a.fill("#text", "hello from ana");
  await a.click("#send");
  await b.waitForSelector("#log li:has-text('ana: hello from ana')", { timeout: step });
  await b.fill("#text", "hi ana, bea here");
  await b.press("#text", "Enter");
  await a.waitForSelector("#log li:has-text('bea: hi ana, bea here')", { timeout: step });
  await b.close();
  await a.waitForSelector("#log li:has-text('bea left')", { timeout: step });
  await a.waitForFunction(() => document.getElementById("online").textContent === "1", null, { timeout: step });
  if (screenshot) await a.screenshot({ path: screenshot });
  console.log(JSON.stringify({ ok: true, extensions }));
}, { viewport: { width: 900, height: 640 } });
