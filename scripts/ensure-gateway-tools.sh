#!/usr/bin/env bash
# What the gateway's tests need besides Rust (tests/gateway/clients.rs): python3 and node for
# the example clients (Debian's packages when missing; needs root), openssl and curl for the
# curl walk-through, and the standard OpenAPI validator `openapi-spec-validator` from PyPI in
# its own virtualenv at /opt/okq-openapi (OKQ_OPENAPI_VENV to put it elsewhere).
set -euo pipefail
VENV="${OKQ_OPENAPI_VENV:-/opt/okq-openapi}"
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x "$VENV/bin/openapi-spec-validator" ]; then
  echo "installing openapi-spec-validator (pip, into $VENV)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'openapi-spec-validator>=0.7,<1'
fi
node --version >/dev/null
"$VENV/bin/openapi-spec-validator" --version >/dev/null 2>&1 || "$VENV/bin/openapi-spec-validator" --help >/dev/null
