#!/usr/bin/env bash
# okra-gateway with curl (and openssl for the webhook's HMAC): enqueue a job, repeat it
# safely, wait for its result, and verify a Standard Webhooks signature.
#
#   OKQ_GATEWAY=http://127.0.0.1:7410 OKQ_TOKEN=okq_... bash walkthrough.sh
set -euo pipefail
GATEWAY="${OKQ_GATEWAY:-http://127.0.0.1:7410}"
QUEUE="${OKQ_QUEUE:-identity}"
AUTH="Authorization: Bearer ${OKQ_TOKEN:?set OKQ_TOKEN to an API key}"

# The routes are in the OpenAPI document.
curl -sf "$GATEWAY/openapi.json" | grep -q '"/v1/queues/{queue}/jobs/{id}"'

# Enqueue (201), then the same request with the same Idempotency-Key (200, duplicate).
KEY="curl-$(date +%s%N)"
BODY='{"job": {"kind": "bvn_verify", "bvn": "22212345678"}, "metadata": {"order": "curl-1"}}'
enqueue() {
  curl -s -w '\n%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: $KEY" -d "$BODY" "$GATEWAY/v1/queues/$QUEUE/jobs"
}
ANSWER=$(enqueue)
[ "$(tail -n1 <<<"$ANSWER")" = 201 ] || { echo "enqueue: $ANSWER" >&2; exit 1; }
ID=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$ANSWER" | head -n1)
echo "enqueued $ID"
AGAIN=$(enqueue)
[ "$(tail -n1 <<<"$AGAIN")" = 200 ] && grep -q "\"id\":\"$ID\"" <<<"$AGAIN" && grep -q '"duplicate":true' <<<"$AGAIN"
echo "a repeat with the same Idempotency-Key returned the same job"

# Wait up to 30 s for the result.
DONE=$(curl -sf -H "$AUTH" "$GATEWAY/v1/queues/$QUEUE/jobs/$ID?wait=30s")
STATE=$(sed -n 's/.*"state":"\([^"]*\)".*/\1/p' <<<"$DONE")
echo "job $ID is $STATE"
[ "$STATE" = completed ]

# Standard Webhooks: base64(HMAC-SHA256(secret bytes, "id.timestamp.body")), `v1,` first.
if [ -z "${OKQ_WEBHOOK_SIGNATURE:-}" ]; then   # no sample given: sign one as a sender would
  OKQ_WEBHOOK_SECRET="whsec_$(printf 'a demo secret of 32 bytes length' | base64)"
  OKQ_WEBHOOK_ID=msg_demo OKQ_WEBHOOK_TIMESTAMP=$(date +%s)
  OKQ_WEBHOOK_BODY='{"type":"job.completed","data":{"queue":"'"$QUEUE"'"}}'
  OKQ_WEBHOOK_SIGNATURE="v1,$(printf '%s' "$OKQ_WEBHOOK_ID.$OKQ_WEBHOOK_TIMESTAMP.$OKQ_WEBHOOK_BODY" \
    | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(printf '%s' "${OKQ_WEBHOOK_SECRET#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')" -binary | base64)"
fi
verify() { # body -> exit status
  local hexkey expected
  [ $(( $(date +%s) - OKQ_WEBHOOK_TIMESTAMP )) -le 300 ] || return 1
  hexkey=$(printf '%s' "${OKQ_WEBHOOK_SECRET#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
  expected=$(printf '%s' "$OKQ_WEBHOOK_ID.$OKQ_WEBHOOK_TIMESTAMP.$1" \
    | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64)
  for sig in $OKQ_WEBHOOK_SIGNATURE; do [ "$sig" = "v1,$expected" ] && return 0; done
  return 1
}
verify "$OKQ_WEBHOOK_BODY"
! verify "$OKQ_WEBHOOK_BODY "
echo "webhook signature verified (and a tampered body refused)"
