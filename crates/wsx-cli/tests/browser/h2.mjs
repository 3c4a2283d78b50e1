// Chromium loads the demo page over HTTPS/HTTP2 from `wsx serve --tls-cert/--tls-key` (a
// self-signed certificate: --ignore-certificate-errors), then opens its WebSocket. Because the
// page's HTTP/2 connection advertised SETTINGS_ENABLE_CONNECT_PROTOCOL, Chromium opens it as
// an RFC 8441 extended CONNECT stream: DevTools reports a 200 handshake (not 101), and the
// server reports (the chat's `welcome` event) that the WebSocket came over HTTP/2.
//
//   node h2.mjs https://localhost:PORT
import { run } from "./launch.mjs";

const [base] = process.argv.slice(2);
if (!base) {
  console.error("usage: node h2.mjs BASE_URL");
  process.exit(2);
}
await run(async (context) => {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const handshakes = [];
  cdp.on("Network.webSocketHandshakeResponseReceived", (e) => handshakes.push(e.response.status));
  await page.goto(base + "/");
  await page.waitForSelector("body[data-state=open]", { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById("http").textContent !== "?", null, { timeout: 10_000 });
  const pageProtocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  const serverSaw = await page.textContent("#http");
  const extensions = await page.textContent("#extensions");
  for (let i = 0; i < 100 && handshakes.length === 0; i++) await page.waitForTimeout(50);
  const result = { pageProtocol, serverSaw, handshakes, extensions };
  console.log(JSON.stringify(result));
  if (pageProtocol !== "h2") throw new Error(`the page was not loaded over h2: ${pageProtocol}`);
  if (serverSaw !== "HTTP/2") throw new Error(`the server saw the WebSocket over ${serverSaw}`);
  if (handshakes[0] !== 200) throw new Error(`DevTools saw handshake statuses ${handshakes}`);
}, { ignoreHTTPSErrors: true }, ["--ignore-certificate-errors"]);
