// Drive the real VS Code workbench (code-server) in Debian's Chromium with the incls extension
// installed; write what it saw as JSON. Run: node drive.mjs   (config: $INCLS_LIVE_CONFIG)
//
// Config: url (the workbench, folder opened), chromium, file (its name in the Explorer),
// append (the sentence to type), timeout_ms, out (result JSON), screenshot (PNG path);
// install (a button label) and install_timeout_ms: accept the offer to install the server,
// then stop at the first diagnostic.
//
// mode "hints" (the complaint letter): record the squiggles the editor draws for the first
// reading (result.decorations: severity 1-4 from the squiggle's class, 0-based line and
// character from its place; a hint's squiggle is three dots at its start, so its end is null),
// then switch incls.sentenceSeverity to "information" in the workspace settings, so that the
// hints are underlined in full and listed in the Problems panel (result.listed, result.underlined),
// wrap the lines, hover the first line and take the screenshot.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

/** The squiggles of the open editor, in model coordinates (lines must not be wrapped). */
async function squiggles() {
  return page.evaluate(() => {
    const editor = document.querySelector(".editor-instance .monaco-editor");
    const lineAt = new Map(); // a view line's top -> its 0-based line number
    for (const row of editor.querySelectorAll(".margin-view-overlays > div")) {
      const n = parseInt(row.textContent, 10);
      if (!Number.isNaN(n)) lineAt.set(row.style.top, n - 1);
    }
    let charWidth = 0; // monospace: the widest line's width over its length
    let longest = 0;
    for (const line of editor.querySelectorAll(".view-lines > .view-line")) {
      const n = line.textContent.length;
      if (n > longest && line.firstElementChild) {
        longest = n;
        charWidth = line.firstElementChild.getBoundingClientRect().width / n;
      }
    }
    const severity = { "squiggly-error": 1, "squiggly-warning": 2, "squiggly-info": 3, "squiggly-hint": 4 };
    const out = [];
    for (const el of editor.querySelectorAll(".view-overlays [class*=squiggly-]")) {
      const kind = [...el.classList].find((c) => c in severity);
      const line = lineAt.get(el.parentElement.style.top);
      if (!kind || line === undefined || !charWidth) continue;
      const left = parseFloat(el.style.left);
      const right = left + parseFloat(el.style.width);
      out.push({
        severity: severity[kind],
        line,
        character: Math.round(left / charWidth),
        end_line: line,
        end_character: severity[kind] === 4 ? null : Math.round(right / charWidth),
      });
    }
    return out.sort((a, b) => a.line - b.line || a.character - b.character);
  });
}

/** The Problems panel's incls rows: message and 0-based start. */
async function problems() {
  const rows = await page.locator(".markers-panel .monaco-list-row").allTextContents();
  const out = [];
  for (const text of rows) {
    const m = text.trim().match(/^(.*)incls([\w-]*)\s*\[Ln (\d+), Col (\d+)\]$/); // "<message>incls<code>[Ln 3, Col 92]"
    if (m) out.push({ message: m[1].trim(), code: m[2] || null, line: +m[3] - 1, character: +m[4] - 1 });
  }
  return out;
}

/** Poll `read` until `done(value)` holds and the value is the same on two reads in a row. */
async function settled(read, done, what, limit = T) {
  const deadline = now() + limit;
  let last;
  let previous = null;
  while (now() < deadline) {
    last = await read();
    const key = JSON.stringify(last);
    if (done(last) && key === previous) return last;
    previous = done(last) ? key : null;
    await page.waitForTimeout(150);
  }
  throw new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(last)}`);
}

async function letterHints() {
  result.decorations = await settled(squiggles, (s) => s.some((d) => d.severity === 4), "the hints' squiggles");
  // The same hints at information severity: underlined in full and listed in the Problems panel.
  mkdirSync(join(conf.root, ".vscode"), { recursive: true });
  const workspaceSettings = join(conf.root, ".vscode", "settings.json");
  writeFileSync(workspaceSettings, JSON.stringify({ "incls.sentenceSeverity": "information" }));
  const sentences = (rows) => rows.filter((r) => /^This sentence reads /.test(r.message));
  result.listed = sentences(
    await settled(problems, (rows) => sentences(rows).length > 0, "the sentences in the Problems panel"),
  );
  const underlined = (s) => s.filter((d) => d.severity === 3 && d.line > 0);
  result.underlined = underlined(
    await settled(squiggles, (s) => underlined(s).length >= result.listed.length, "the sentences underlined"),
  );
  // The first line's hover: the document's probabilities and its evidence.
  const hoverText = async (at, pattern) => {
    await page.mouse.move(0, 0);
    await page.mouse.move(at.x, at.y);
    await page.locator(".monaco-hover-content").filter({ hasText: pattern }).last().waitFor({ timeout: T });
    return (await page.locator(".monaco-hover-content").allTextContents()).join("\n");
  };
  const firstLine = await page.locator(".editor-instance .monaco-editor .view-line").first().boundingBox();
  result.document_hover = await hoverText({ x: firstLine.x + 30, y: firstLine.y + firstLine.height / 2 }, /Evidence/);
  // For the picture: wrap the long line, hover the last sentence underlined (its own reading),
  // the hover below the line so that it leaves the underlines in sight.
  writeFileSync(workspaceSettings, JSON.stringify({
    "incls.sentenceSeverity": "information", "editor.wordWrap": "on", "editor.hover.above": false,
  }));
  await page.waitForFunction(() => document.querySelectorAll(".editor-instance .view-lines > .view-line").length > 8,
    null, { timeout: T });
  await page.waitForTimeout(300); // the squiggles follow the wrapped lines
  const boxes = [];
  for (const el of await page.locator(".editor-instance .view-overlays .squiggly-info").all()) {
    const box = await el.boundingBox();
    if (box) boxes.push(box);
  }
  const last = boxes.sort((a, b) => a.y - b.y || a.x - b.x).pop();
  result.hover = await hoverText({ x: last.x + last.width / 2, y: last.y + last.height / 2 }, /share of the evidence/);
  await page.waitForTimeout(600); // the hover fades in
  result.statusbar.final = (await observe()).statusbar;
  if (conf.screenshot) await page.screenshot({ path: conf.screenshot });
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
  if (conf.mode === "hints") return letterHints();

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
