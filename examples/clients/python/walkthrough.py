#!/usr/bin/env python3
"""okra-gateway from Python, standard library only: enqueue a job, repeat it safely, wait for
its result, and verify a Standard Webhooks signature.

    OKQ_GATEWAY=http://127.0.0.1:7410 OKQ_TOKEN=okq_... python3 walkthrough.py

The routes come from the gateway's OpenAPI document (/openapi.json), by operationId.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

GATEWAY = os.environ.get("OKQ_GATEWAY", "http://127.0.0.1:7410").rstrip("/")
TOKEN = os.environ["OKQ_TOKEN"]
QUEUE = os.environ.get("OKQ_QUEUE", "identity")


def call(method, path, body=None, headers=None):
    """One request; returns (status, parsed JSON). Errors are problem+json documents."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(GATEWAY + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        problem = json.load(e)
        # A 429 or 503 says when to retry: honour Retry-After, then send the same request
        # (with the same Idempotency-Key) again.
        return e.code, problem


def routes():
    """operationId -> path template, from the OpenAPI document."""
    with urllib.request.urlopen(GATEWAY + "/openapi.json", timeout=10) as r:
        doc = json.load(r)
    return {
        op["operationId"]: path
        for path, item in doc["paths"].items()
        for op in item.values()
        if "operationId" in op
    }


def verify_webhook(secret, msg_id, timestamp, body, signature_header, tolerance=300):
    """Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with the secret's bytes;
    any of the space-separated v1 signatures may match (two during a secret rotation)."""
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for sig in signature_header.split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def sample_webhook():
    """The sample to verify: from the environment, or signed here as a sender would."""
    env = os.environ
    if "OKQ_WEBHOOK_SIGNATURE" in env:
        return (env["OKQ_WEBHOOK_SECRET"], env["OKQ_WEBHOOK_ID"], env["OKQ_WEBHOOK_TIMESTAMP"],
                env["OKQ_WEBHOOK_BODY"], env["OKQ_WEBHOOK_SIGNATURE"])
    secret = "whsec_" + base64.b64encode(b"a demo secret of 32 bytes length").decode()
    msg_id, ts = "msg_demo", str(int(time.time()))
    body = json.dumps({"type": "job.completed", "data": {"queue": QUEUE}})
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest())
    return secret, msg_id, ts, body, "v1," + sig.decode()


def main():
    paths = routes()
    jobs = paths["enqueue"].replace("{queue}", QUEUE)
    one = paths["show"].replace("{queue}", QUEUE)

    request = {"job": {"kind": "bvn_verify", "bvn": "22212345678"},
               "metadata": {"order": "py-" + uuid.uuid4().hex[:8]}}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    status, job = call("POST", jobs, request, key)
    assert status == 201, (status, job)
    print(f"enqueued {job['id']} ({job['state']})")
    status, again = call("POST", jobs, request, key)
    assert status == 200 and again["duplicate"] and again["id"] == job["id"], again
    print("a repeat with the same Idempotency-Key returned the same job")

    status, done = call("GET", one.replace("{id}", job["id"]) + "?wait=30s")
    assert status == 200, done
    print(f"job {done['id']} is {done['state']}; metadata {json.dumps(done.get('metadata'))}")
    if done["state"] != "completed":
        sys.exit("the job did not complete")

    secret, msg_id, ts, body, sig = sample_webhook()
    assert verify_webhook(secret, msg_id, ts, body, sig), "signature must verify"
    assert not verify_webhook(secret, msg_id, ts, body + " ", sig), "a changed body must not"
    print("webhook signature verified (and a tampered body refused)")


if __name__ == "__main__":
    main()
