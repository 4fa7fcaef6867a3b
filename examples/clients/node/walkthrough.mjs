// okra-gateway from Node (18+), built-in fetch and node:crypto only: enqueue a job, repeat it
// safely, wait for its result, and verify a Standard Webhooks signature.
//
//   OKQ_GATEWAY=http://127.0.0.1:7410 OKQ_TOKEN=okq_... node walkthrough.mjs
//
// The routes come from the gateway's OpenAPI document (/openapi.json), by operationId.

import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

const GATEWAY = (process.env.OKQ_GATEWAY ?? "http://127.0.0.1:7410").replace(/\/$/, "");
const TOKEN = process.env.OKQ_TOKEN;
const QUEUE = process.env.OKQ_QUEUE ?? "identity";

// One request; errors come back as problem+json documents. On 429 or 503, wait Retry-After
// seconds and send the same request (with the same Idempotency-Key) again.
async function call(method, path, body, headers = {}) {
  const r = await fetch(GATEWAY + path, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return [r.status, await r.json()];
}

// operationId -> path template, from the OpenAPI document.
async function routes() {
  const doc = await (await fetch(GATEWAY + "/openapi.json")).json();
  const out = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const op of Object.values(item)) if (op.operationId) out[op.operationId] = path;
  }
  return out;
}

// Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with the secret's bytes; any of the
// space-separated v1 signatures may match (two during a secret rotation).
function verifyWebhook(secret, id, timestamp, body, header, toleranceSecs = 300) {
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSecs) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  return header.split(" ").some((sig) => {
    const [version, value] = sig.split(",");
    const given = Buffer.from(value ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

// The sample to verify: from the environment, or signed here as a sender would.
function sampleWebhook() {
  const e = process.env;
  if (e.OKQ_WEBHOOK_SIGNATURE) {
    return [e.OKQ_WEBHOOK_SECRET, e.OKQ_WEBHOOK_ID, e.OKQ_WEBHOOK_TIMESTAMP, e.OKQ_WEBHOOK_BODY, e.OKQ_WEBHOOK_SIGNATURE];
  }
  const secret = "whsec_" + Buffer.from("a demo secret of 32 bytes length").toString("base64");
  const [id, ts] = ["msg_demo", String(Math.floor(Date.now() / 1000))];
  const body = JSON.stringify({ type: "job.completed", data: { queue: QUEUE } });
  const key = Buffer.from(secret.slice(6), "base64");
  const sig = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
  return [secret, id, ts, body, `v1,${sig}`];
}

const paths = await routes();
const jobs = paths.enqueue.replace("{queue}", QUEUE);
const one = paths.show.replace("{queue}", QUEUE);

const request = { job: { kind: "bvn_verify", bvn: "22212345678" }, metadata: { order: `node-${randomUUID().slice(0, 8)}` } };
const key = { "idempotency-key": randomUUID() };
const [status, job] = await call("POST", jobs, request, key);
if (status !== 201) throw new Error(`enqueue: ${status} ${JSON.stringify(job)}`);
console.log(`enqueued ${job.id} (${job.state})`);
const [status2, again] = await call("POST", jobs, request, key);
if (status2 !== 200 || !again.duplicate || again.id !== job.id) throw new Error("the repeat must return the same job");
console.log("a repeat with the same Idempotency-Key returned the same job");

const [s3, done] = await call("GET", one.replace("{id}", job.id) + "?wait=30s");
if (s3 !== 200) throw new Error(`read: ${s3} ${JSON.stringify(done)}`);
console.log(`job ${done.id} is ${done.state}; metadata ${JSON.stringify(done.metadata)}`);
if (done.state !== "completed") throw new Error("the job did not complete");

const [secret, id, ts, body, sig] = sampleWebhook();
if (!verifyWebhook(secret, id, ts, body, sig)) throw new Error("signature must verify");
if (verifyWebhook(secret, id, ts, body + " ", sig)) throw new Error("a changed body must not verify");
console.log("webhook signature verified (and a tampered body refused)");
