// Drives s2s.mjs for the tests and the benchmark: in headless Chromium (Debian's, through playwright-core) or in
// Node (onnxruntime-node). Every command prints one JSON object on stdout.
//
//   node drive.mjs page URL [PNG]          open the page, wait for <body data-status> done or error, read #results
//   node drive.mjs node SITE [BUNDLE] < job.json   decode {texts, options} with SITE/s2s.mjs (SITE/model, or any
//                                          bundle folder); results or the error, as decode() gives them
//   node drive.mjs node-each SITE [BUNDLE] < job.json   each text decoded alone: its result or its error
//   node drive.mjs time-page URL < job.json    time translate() in the page: {batch_sizes, repeats, texts}
//   node drive.mjs time-node SITE < job.json   the same in Node
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT_MS = Number(process.env.S2S_PAGE_TIMEOUT_MS ?? 120_000);

async function browser() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"], headless: true });
}

async function openPage(instance, url) {
  const page = await instance.newPage({ viewport: { width: 1100, height: 640 } });
  const console = [];
  page.on("console", (message) => console.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => console.push(`pageerror: ${error.message}`));
  await page.goto(url);
  return { page, console };
}

async function readPage(url, png) {
  const instance = await browser();
  try {
    const { page, console } = await openPage(instance, url);
    await page.waitForSelector("body[data-status=done], body[data-status=error]", { timeout: TIMEOUT_MS });
    if (png) await page.screenshot({ path: png });
    return {
      status: await page.getAttribute("body", "data-status"),
      results: await page.textContent("#results"),
      error: await page.textContent("#error"),
      timing: await page.textContent("#timing"),
      console,
    };
  } finally {
    await instance.close();
  }
}

// What a timing run does, in the page or in Node: translate each batch size's first texts `repeats` times after a
// `warmup` times first (the browser's wasm reaches its optimised tier); per batch size, the median milliseconds per call, and the translations of the largest batch.
async function timeModel(model, job) {
  const medians = {};
  let translations = [];
  for (const size of job.batch_sizes) {
    const texts = job.texts.slice(0, size);
    for (let i = 0; i < (job.warmup ?? 1); i++) translations = await model.translate(texts, job.options ?? {});
    const times = [];
    for (let i = 0; i < job.repeats; i++) {
      const started = performance.now();
      await model.translate(texts, job.options ?? {});
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    medians[size] = times[Math.floor(times.length / 2)];
  }
  return { medians, translations };
}

async function timePage(url, job) {
  const instance = await browser();
  try {
    const { page } = await openPage(instance, url);
    await page.waitForSelector("body[data-status=ready], body[data-status=error]", { timeout: TIMEOUT_MS });
    const timed = await page.evaluate(async ([job, source]) => {
      const { load } = await import("./s2s.mjs");
      const timeModel = new Function(`return (${source})`)();
      return timeModel(await load("./model/"), job);
    }, [job, timeModel.toString()]);
    return { ...timed, user_agent: await page.evaluate(() => navigator.userAgent) };
  } finally {
    await instance.close();
  }
}

async function siteModel(site, bundle, options = {}) {
  const { load } = await import(pathToFileURL(resolve(site, "s2s.mjs")).href);
  if (!bundle) return load(resolve(site, "model"), options); // onnxruntime-node as the site's package.json has it
  return load(resolve(bundle), { ...options, ort: await import("onnxruntime-node") });
}

// job: {texts or ids, options, load}: load()'s options (verify), then decode()'s or decodeIds()'; an error of
// either is the answer
async function decodeInNode(site, bundle, job) {
  try {
    const model = await siteModel(site, bundle, job.load ?? {});
    if (job.ids) return { results: await model.decodeIds(job.ids, job.options ?? {}) };
    return { results: await model.decode(job.texts, job.options ?? {}) };
  } catch (error) {
    return { error: { type: error.name, message: error.message } };
  }
}

// each text of the job decoded alone: its result, or its error
async function decodeEachInNode(site, bundle, job) {
  const model = await siteModel(site, bundle, job.load ?? {});
  const answers = [];
  for (const text of job.texts) {
    try {
      answers.push({ result: await model.decode(text, job.options ?? {}) });
    } catch (error) {
      answers.push({ error: { type: error.name, message: error.message } });
    }
  }
  return { answers };
}

const [command, target, extra] = process.argv.slice(2);
const job = () => JSON.parse(readFileSync(0, "utf-8"));
const commands = {
  page: () => readPage(target, extra),
  node: () => decodeInNode(target, extra, job()),
  "node-each": () => decodeEachInNode(target, extra, job()),
  "time-page": () => timePage(target, job()),
  "time-node": async () => ({ ...(await timeModel(await siteModel(target), job())), node: process.version }),
};
if (!commands[command]) {
  console.error(`usage: node drive.mjs ${Object.keys(commands).join("|")} URL-or-SITE [PNG]`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await commands[command]()) + "\n");
