#!/bin/sh
# One-shot job run by compose (service `temporal-setup`, image temporalio/admin-tools):
# wait until the Temporal server answers, create the namespace if it does not exist
# yet (the temporalio/server image creates none), then register the custom search
# attributes the stagegate workflow sets (see app/gate/search_attributes.py).
#
# Idempotent: an existing namespace is left alone (the dev server has `default`),
# and so is an attribute that already exists with the right type (the dev server
# registers both itself via --search-attribute); one that exists with another type
# is an error, because the workflow would fail to upsert it.
#
# Needs only the `temporal` CLI and busybox (the admin-tools image has no jq).
#
# Environment:
#   TEMPORAL_ADDRESS     host:port of the frontend (required)
#   TEMPORAL_NAMESPACE   namespace to set up (default: default)
#   NAMESPACE_RETENTION  retention of a namespace this job creates (default: 72h)
#   SETUP_WAIT_SECONDS   how long to wait for the server/namespace (default: 300)
set -eu

ADDRESS="${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must be set}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
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

# Prints the registered type of attribute $1 (empty if it is not registered); fails if
# the attributes cannot be listed. The CLI's JSON puts one `"Name": "TYPE",` per line.
registered_type() {
    listing="$(temporal_cli operator search-attribute list --output json)" || return 1
    printf '%s\n' "$listing" | sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\([A-Za-z_]*\)\",\{0,1\}[[:space:]]*\$/\1/p"
}

# Fails with the CLI's last error line on stdout when $@ fails.
try() {
    if output="$("$@" 2>&1 >/dev/null)"; then
        return 0
    fi
    printf '%s' "$output" | tail -n 1
    return 1
}

command -v temporal >/dev/null 2>&1 || { log "error: the temporal CLI is not on PATH"; exit 1; }

deadline=$(($(date +%s) + WAIT_SECONDS))
give_up_if_late() {
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "gave up after ${WAIT_SECONDS}s: $1"
        exit 1
    fi
}

until reason="$(try temporal_cli operator cluster health)"; do
    give_up_if_late "Temporal at $ADDRESS is not serving: $reason"
    log "waiting for Temporal at $ADDRESS ($reason)"
    sleep 2
done
log "Temporal at $ADDRESS is serving"

until reason="$(try temporal_cli operator namespace describe)"; do
    # Creating needs admin rights the server grants here (no authorizer); on Temporal Cloud
    # the namespace exists already, or this keeps failing and the job reports why.
    if created="$(try temporal_cli operator namespace create --retention "$RETENTION")"; then
        log "created namespace '$NAMESPACE' (retention $RETENTION)"
    else
        give_up_if_late "namespace '$NAMESPACE' is not usable ($reason) and creating it failed ($created)"
        log "waiting for namespace '$NAMESPACE' ($reason; create: $created)"
        sleep 2
    fi
done
# A namespace just created takes a moment to reach every cache: wait until its attributes list.
until reason="$(try temporal_cli operator search-attribute list)"; do
    give_up_if_late "namespace '$NAMESPACE' exists but its search attributes cannot be listed: $reason"
    sleep 1
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
        give_up_if_late "$name is still not listed on namespace '$NAMESPACE'"
        sleep 1
    done
done
log "search attributes ready on namespace '$NAMESPACE': $ATTRIBUTES"
