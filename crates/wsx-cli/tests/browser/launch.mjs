// The Chromium every browser test runs: Debian's system browser ($CHROMIUM or
// /usr/bin/chromium; never a downloaded one), headless, with the flags this sandboxed,
// offline machine needs and a fresh profile that `close()` removes.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];

/// Launches it; `options` go to playwright's launchPersistentContext, `extraArgs` to Chromium.
export async function launch(options = {}, extraArgs = []) {
  const profile = mkdtempSync(join(tmpdir(), "wsx-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [...FLAGS, ...extraArgs],
    ...options,
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/// Runs `body(context)` in a launched browser; prints its failure and sets the exit status.
export async function run(body, options = {}, extraArgs = []) {
  const { context, close } = await launch(options, extraArgs);
  let failed = false;
  try {
    await body(context);
  } catch (err) {
    failed = true;
    console.error(`browser test failed: ${err.message}`);
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
}
