// The page of index.html: loads the bundle in ./model/ with s2s.mjs, translates the text box's lines (or those of
// ?q=, on load) and shows the translations, one per line, with the time they took. ?beam=N searches N beams.
// <body data-status> says where it is: "loading", "ready", "working", "done" or "error".
import { ORT_VERSION, load } from "./s2s.mjs";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let model = null;

function fail(error) {
  $("error").textContent = `${error.name ?? "Error"}: ${error.message ?? error}`;
  document.body.dataset.status = "error";
}

function describe(config) {
  const m = config.model ?? {}, v = config.vocabulary ?? {};
  const kind = m.attention ? `${m.cell ?? "lstm"} with attention` : `${m.layers ?? 1}-layer ${m.cell ?? "lstm"}`;
  const source = config.provenance?.source_file ?? "the model";
  return `${source}: ${kind}, ${v.tokenization ?? "char"}-level, onnxruntime-web ${ORT_VERSION} (wasm, one thread)`;
}

async function translate() {
  const texts = $("texts").value.split("\n");
  while (texts.length > 1 && texts[texts.length - 1] === "") texts.pop();
  const beam = Number($("beam").value);
  document.body.dataset.status = "working";
  $("error").textContent = "";
  $("translate").disabled = true;
  try {
    const started = performance.now();
    const results = await model.translate(texts, beam > 1 ? { beam_size: beam } : {});
    const took = performance.now() - started;
    $("results").textContent = results.join("\n");
    const each = texts.length > 1 ? `, ${(took / texts.length).toFixed(2)} ms per text` : "";
    $("timing").textContent = `${texts.length} text${texts.length > 1 ? "s" : ""} in ${took.toFixed(1)} ms${each}`;
    document.body.dataset.status = "done";
  } catch (error) {
    $("results").textContent = "";
    fail(error);
  } finally {
    $("translate").disabled = false;
  }
}

async function start() {
  model = await load("./model/");
  $("about").textContent = describe(model.config);
  if (model.beam) {
    for (const n of [2, 4, 8]) $("beam").append(new Option(String(n)));
  }
  const beam = params.get("beam");
  if (beam !== null) {
    if (![...$("beam").options].some((o) => o.value === beam)) $("beam").append(new Option(beam));
    $("beam").value = beam;
  }
  $("translate").disabled = false;
  $("translate").addEventListener("click", translate);
  $("texts").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) translate(); });
  const q = params.get("q");
  if (q !== null) {
    $("texts").value = q;
    await translate();
  } else {
    document.body.dataset.status = "ready";
  }
}

start().catch(fail);
