// Two Chromium pages on `wsx serve`'s Socket.IO page (/sio), which uses the official browser
// client (socket.io-client's own bundle, from this folder's node_modules): both connect to the
// wsx-sio server, the user count reaches 2, a chat message from one arrives at the other.
//
//   node sio.mjs BASE_URL
import { run } from "./launch.mjs";

const [base] = process.argv.slice(2);
if (!base) {
  console.error("usage: node sio.mjs BASE_URL");
  process.exit(2);
}
const step = 10_000;
await run(async (context) => {
  const a = await context.newPage();
  const b = await context.newPage();
  for (const page of [a, b]) {
    await page.goto(base + "/sio");
    await page.waitForSelector("body[data-state=connected]", { timeout: step });
  }
  for (const page of [a, b]) {
    await page.waitForFunction(() => document.getElementById("users").textContent === "2", null, { timeout: step });
  }
  await a.fill("#input", "hello over socket.io");
  await a.press("#input", "Enter");
  await b.waitForSelector("#messages li:has-text('hello over socket.io')", { timeout: step });
  await a.waitForSelector("#messages li:has-text('hello over socket.io')", { timeout: step });
  console.log(JSON.stringify({ ok: true }));
});
