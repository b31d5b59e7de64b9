#!/bin/sh
# One-shot job run by compose (service `temporal-setup`, image temporalio/admin-tools):
# wait until the Temporal namespace answers, then register the custom search
# attributes the stagegate workflow sets (see app/search_attributes.py).
#
# Idempotent: an attribute that already exists with the right type is left alone
# (the dev server registers both itself via --search-attribute); one that exists
# with another type is an error, because the workflow would fail to upsert it.
#
# Environment:
#   TEMPORAL_ADDRESS     host:port of the frontend (required)
#   TEMPORAL_NAMESPACE   namespace to register on (default: default)
#   SETUP_WAIT_SECONDS   how long to wait for the server/namespace (default: 300)
set -eu

ADDRESS="${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must be set}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
WAIT_SECONDS="${SETUP_WAIT_SECONDS:-300}"
# name:type pairs, types as the temporal CLI spells them.
ATTRIBUTES="StagegateStage:Int StagegateMode:Keyword"

log() { printf 'temporal-setup: %s\n' "$*" >&2; }

temporal_cli() {
    # Subcommand words first, then the connection flags every subcommand accepts.
    temporal "$@" --address "$ADDRESS" --namespace "$NAMESPACE" --command-timeout 10s
}

# "INDEXED_VALUE_TYPE_KEYWORD_LIST", "KeywordList" and "keywordlist" all become "keywordlist".
normalize_type() {
    printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | sed -e 's/^indexed_value_type_//' -e 's/_//g'
}

# Prints the registered type of custom attribute $1 (empty if it is not registered);
# fails if the attributes cannot be listed.
registered_type() {
    listing="$(temporal_cli operator search-attribute list --output json)" || return 1
    printf '%s' "$listing" \
        | jq -r --arg name "$1" '(.customAttributes // .custom_attributes // {})[$name] // empty'
}

command -v temporal >/dev/null 2>&1 || { log "error: the temporal CLI is not on PATH"; exit 1; }
command -v jq >/dev/null 2>&1 || { log "error: jq is not on PATH"; exit 1; }

deadline=$(($(date +%s) + WAIT_SECONDS))
until reason="$(temporal_cli operator namespace describe 2>&1 >/dev/null)"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "gave up: namespace '$NAMESPACE' at $ADDRESS did not answer within ${WAIT_SECONDS}s: $reason"
        exit 1
    fi
    log "waiting for namespace '$NAMESPACE' at $ADDRESS ($(printf '%s' "$reason" | tail -n 1))"
    sleep 2
done
log "namespace '$NAMESPACE' at $ADDRESS is up"

for pair in $ATTRIBUTES; do
    name="${pair%%:*}"
    type="${pair#*:}"
    current="$(registered_type "$name")"
    if [ -z "$current" ]; then
        log "registering $name ($type)"
        temporal_cli operator search-attribute create --name "$name" --type "$type" >/dev/null
    elif [ "$(normalize_type "$current")" = "$(normalize_type "$type")" ]; then
        log "$name ($type) is already registered"
    else
        log "error: $name is registered as $current, stagegate needs $type"
        exit 1
    fi
done

# Registration is asynchronous on some visibility stores: wait until every attribute is listed.
for pair in $ATTRIBUTES; do
    name="${pair%%:*}"
    until [ -n "$(registered_type "$name")" ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "gave up: $name is still not listed on namespace '$NAMESPACE'"
            exit 1
        fi
        sleep 1
    done
done
log "search attributes ready on namespace '$NAMESPACE': $ATTRIBUTES"
