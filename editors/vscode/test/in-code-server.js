// A manual check of the extension in a real VS Code: code-server (VS Code in a browser) driven by
// headless Chromium through puppeteer-core. It opens a .nn file of the served folder, prints the
// status bar (the error and warning counts come from `nnc lsp`), the number of error squiggles,
// the hover over a word and, with `--format`, the document after "Format Document"; and it saves
// a screenshot. Not part of the test suite: it needs code-server, Chromium and npm packages.
//
//   code-server --auth none --bind-addr 127.0.0.1:8123 FOLDER    # with this extension installed
//   CHROMIUM=/path/to/chromium node in-code-server.js broken.nn relu [--format]
const puppeteer = require("puppeteer-core");

const [file, hoverWord, flag] = process.argv.slice(2);
const url = process.env.CODE_SERVER_URL || "http://127.0.0.1:8123/";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function command(page, name) {
  await page.keyboard.press("F1");
  await sleep(1500);
  await page.keyboard.type(name, { delay: 40 });
  await sleep(1500);
  await page.keyboard.press("Enter");
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  await page.goto(url, { waitUntil: "networkidle2", timeout: 120000 });
  await page.waitForSelector(".monaco-workbench", { timeout: 120000 });
  await sleep(8000);
  // Quick Open, then time for the server's first diagnostics.
  await page.keyboard.down("Control");
  await page.keyboard.press("KeyP");
  await page.keyboard.up("Control");
  await sleep(1500);
  await page.keyboard.type(file, { delay: 50 });
  await sleep(1500);
  await page.keyboard.press("Enter");
  await sleep(12000);

  const status = await page.evaluate(() =>
    Array.from(document.querySelectorAll(".statusbar-item"))
      .map((e) => e.textContent.trim())
      .filter((t) => t)
      .join(" | ")
  );
  console.log("status bar:", status);
  const squiggles = await page.evaluate(() => document.querySelectorAll(".squiggly-error").length);
  console.log("error squiggles:", squiggles);

  if (hoverWord) {
    const at = await page.evaluate((word) => {
      const span = Array.from(document.querySelectorAll(".view-line span span")).find(
        (e) => e.textContent === word
      );
      if (!span) return null;
      const r = span.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
    }, hoverWord);
    if (at) {
      await page.mouse.move(at.x, at.y);
      await sleep(4000);
      const hover = await page.evaluate(() =>
        Array.from(document.querySelectorAll(".monaco-hover-content"))
          .map((e) => e.innerText.trim())
          .filter((t) => t)
          .join("\n")
      );
      console.log(`hover over ${hoverWord}:\n${hover}`);
    } else {
      console.log(`hover: \`${hoverWord}\` is not on the screen`);
    }
  }
  await page.screenshot({ path: "in-code-server.png" });

  if (flag === "--format") {
    await page.mouse.click(700, 400);
    await command(page, "Format Document");
    await sleep(4000);
    const text = await page.evaluate(() =>
      Array.from(document.querySelectorAll(".view-line"))
        .map((e) => ({ top: parseFloat(e.style.top), text: e.innerText }))
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text.replace(/\u00a0/g, " "))
        .join("\n")
    );
    console.log(`after Format Document:\n${text}`);
  }
  await browser.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
