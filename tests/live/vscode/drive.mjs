// Drive the real VS Code workbench (code-server) in Debian's Chromium with the incls extension
// installed; write what it saw as JSON. Run: node drive.mjs   (config: $INCLS_LIVE_CONFIG)
//
// Config: url (the workbench, folder opened), chromium, file (its name in the Explorer),
// append (the sentence to type), timeout_ms, out (result JSON), screenshot (PNG path);
// install (a button label) and install_timeout_ms: accept the offer to install the server,
// then stop at the first diagnostic.
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const conf = JSON.parse(readFileSync(process.env.INCLS_LIVE_CONFIG, "utf8"));
const result = { status: [], statusbar: {} };
const now = () => performance.now();
const T = conf.timeout_ms;
const READS = /Reads (\S+) \(([01](?:\.\d+)?)\)/;

let browser;
let page;

function finish(error) {
  if (error) result.error = String(error && error.stack ? error.stack : error);
  writeFileSync(conf.out, JSON.stringify(result));
}

/** The document diagnostic as the Problems panel shows it, and the status bar item's text. */
async function observe() {
  return page.evaluate(() => {
    const rows = [...document.querySelectorAll(".markers-panel .monaco-list-row")];
    let message = null;
    let code = null;
    for (const row of rows) {
      const text = row.textContent || "";
      const m = text.match(/Reads (\S+) \(([01](?:\.\d+)?)\)/);
      if (m) {
        message = m[0];
        const c = text.match(/incls\(([^)]+)\)/);
        code = c ? c[1] : null;
        break;
      }
    }
    const items = [...document.querySelectorAll(".statusbar-item")];
    const item = items.find((el) => /incls/.test(el.textContent || "") && /incls/.test(el.id + (el.getAttribute("aria-label") || "") + el.textContent));
    return { message, code, statusbar: item ? (item.textContent || "").trim() : null };
  });
}

const label = (msg) => (msg && msg.match(READS) ? msg.match(READS)[1] : null);

/** Poll until pred(observation) holds; returns the observation with ms since `since`. */
async function waitFor(pred, since, what, limit = T) {
  const deadline = now() + limit;
  let last;
  while (now() < deadline) {
    last = await observe();
    if (pred(last)) return { ...last, ms: now() - since };
    await page.waitForTimeout(5);
  }
  const err = new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(last)}`);
  err.last = last;
  throw err;
}

/** No server installed: accept the extension's offer (the button named conf.install), follow the
 *  progress notification, wait for the first diagnostic from the server it installed. */
async function installFromPrompt(tOpen) {
  const button = page.locator(".notifications-toasts .monaco-button").filter({ hasText: conf.install }).first();
  await button.waitFor({ timeout: T });
  result.prompt_ms = now() - tOpen;
  await button.click();
  const tInstall = now();
  const limit = conf.install_timeout_ms;
  result.progress = [];
  while (now() - tInstall < limit) {
    const seen = await observe();
    if (seen.message) {
      result.first = { message: seen.message, code: seen.code, ms: now() - tOpen };
      result.install_ms = now() - tInstall;
      result.statusbar.first = seen.statusbar;
      return;
    }
    const toasts = await page.locator(".notifications-toasts .notification-list-item").allTextContents();
    for (const text of toasts) {
      if (/incls/.test(text) && !result.progress.includes(text)) result.progress.push(text);
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no incls diagnostic ${limit} ms after accepting the install; notifications seen: ` +
    JSON.stringify(result.progress.slice(-5)));
}

async function main() {
  browser = await chromium.launch({
    executablePath: conf.chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  const t0 = now();
  await page.goto(conf.url, { waitUntil: "domcontentloaded", timeout: T });
  await page.locator(".monaco-workbench").waitFor({ timeout: T });
  const row = page.locator(`.explorer-folders-view .monaco-list-row[aria-label*="${conf.file}"]`).first();
  await row.waitFor({ timeout: T });
  result.workbench_ms = now() - t0;
  result.version = await page.evaluate(() => document.title);

  // Open the review from the Explorer, then the Problems panel.
  await row.click();
  const tOpen = now();
  const editor = page.locator(".editor-instance .monaco-editor .view-lines").first();
  await editor.waitFor({ timeout: T });
  await page.keyboard.press("Control+Shift+M");
  await page.locator(".markers-panel").waitFor({ timeout: T });

  if (conf.install) {
    await installFromPrompt(tOpen);
    if (conf.screenshot) await page.screenshot({ path: conf.screenshot });
    return;
  }
  const first = await waitFor((o) => !!o.message, tOpen, "the first incls diagnostic");
  result.first = { message: first.message, code: first.code, ms: first.ms };
  result.statusbar.first = (await waitFor((o) => !!o.statusbar && /\d%/.test(o.statusbar), tOpen,
    "the status bar item")).statusbar;

  // Type the sentence at the end of the last non-empty line.
  await page.locator(".editor-instance .monaco-editor .view-line").first().click();
  await page.keyboard.press("Control+End");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("End");
  await page.keyboard.type(conf.append);
  const tEdit = now();
  const update = await waitFor((o) => o.message && o.message !== first.message, tEdit, "a new diagnostic after typing");
  result.update = { message: update.message, code: update.code, ms: update.ms };
  let flipped;
  try {
    flipped = await waitFor((o) => label(o.message) && label(o.message) !== label(first.message), tEdit, "the flipped label", conf.flip_timeout_ms);
  } catch (err) {
    result.update.last = err.last ? err.last.message : null;
  }
  if (flipped) {
    result.flipped = { message: flipped.message, code: flipped.code, ms: flipped.ms };
    result.statusbar.flipped = (await waitFor((o) => o.statusbar && o.statusbar.includes(label(flipped.message)),
      tEdit, "the status bar to follow")).statusbar;
    // One-change round trips: select the typed sentence and delete it (cut), then undo (paste).
    for (let i = 0; i < conf.append.length; i++) await page.keyboard.press("Shift+ArrowLeft");
    const tCut = now();
    await page.keyboard.press("Delete");
    const cut = await waitFor((o) => label(o.message) === label(first.message), tCut, "the first label after cutting");
    result.cut = { message: cut.message, code: cut.code, ms: cut.ms };
    const tPaste = now();
    await page.keyboard.press("Control+Z");
    const paste = await waitFor((o) => label(o.message) === label(flipped.message), tPaste, "the flipped label after undo");
    result.paste = { message: paste.message, code: paste.code, ms: paste.ms };
  }

  // Hover over the first line: the diagnostic and the server's probabilities.
  await page.keyboard.press("Control+Home"); // scroll back to the start of the document
  const firstLine = page.locator(".editor-instance .monaco-editor .view-line").first();
  await page.mouse.move(0, 0);
  const box = await firstLine.boundingBox();
  await page.mouse.move(box.x + 30, box.y + box.height / 2);
  const hover = page.locator(".monaco-hover-content").filter({ hasText: /\d\.\d/ }).last();
  await hover.waitFor({ timeout: T });
  const deadline = now() + 5000;
  let text = "";
  while (now() < deadline) {
    text = (await page.locator(".monaco-hover-content").allTextContents()).join("\n");
    if (/positive/.test(text) && /negative/.test(text)) break;
    await page.waitForTimeout(20);
  }
  result.hover = text;
  result.statusbar.final = (await observe()).statusbar;
  if (conf.screenshot) await page.screenshot({ path: conf.screenshot });
}

main()
  .then(() => finish())
  .catch(async (err) => {
    try {
      if (page && conf.screenshot) await page.screenshot({ path: conf.screenshot.replace(/\.png$/, "-failure.png") });
    } catch {}
    finish(err);
  })
  .finally(async () => {
    if (browser) await browser.close().catch(() => {});
    process.exit(0);
  });
