#!/usr/bin/env bash
# Run the in-cluster stack (stacks/aws-in-cluster) of a private-API AWS platform on the CodeBuild
# project the platform stack provisions inside the VPC (mlinfra/aws/runner.py), and wait for it.
# Used by the GitHub and the GitLab pipelines alike; runs as well from a laptop.
#
#   run-in-cluster.sh preview|up|drift
#
# 1. `git archive` the commit and upload it to <artifact bucket>/deploy/in-cluster.zip (the bucket is
#    versioned: the upload's VersionId pins the build to exactly this commit);
# 2. `aws codebuild start-build` with PULUMI_COMMAND=<mode>: the buildspec runs `pulumi preview --diff`,
#    `pulumi up --yes`, or for drift `pulumi refresh --preview-only --expect-no-changes` then
#    `pulumi preview --expect-no-changes`;
# 3. poll `aws codebuild batch-get-builds` until the build leaves IN_PROGRESS, print its CloudWatch
#    link and the tail of its log; exit 0 only when it SUCCEEDED.
#
# Environment:
#   MLINFRA_PLATFORM_STACK  the platform stack, as `pulumi stack output --stack` names it (acme/prod);
#                           its outputs `runner_project` and `artifact_bucket` name the project and bucket
#   MLINFRA_PLATFORM_DIR    the platform project's directory (default stacks/aws)
#   MLINFRA_RUNNER_PROJECT, MLINFRA_SOURCE_BUCKET
#                           the same two values given directly (then no Pulumi CLI is needed)
#   MLINFRA_SOURCE_REF      the commit to run (default HEAD)
#   MLINFRA_POLL_SECONDS    between two status checks (default 20)
#   MLINFRA_WAIT_MINUTES    stop waiting after this long (default: the build's queued timeout + build
#                           timeout + 10, both read from the build: CodeBuild ends it before that)
#   MLINFRA_LOG_LINES       log events printed at the end (default 200)
# AWS credentials and region come from the environment: codebuild:StartBuild, codebuild:BatchGetBuilds
# and codebuild:StopBuild on the project, s3:PutObject on the bundle (+ kms:GenerateDataKey on the
# bucket's key), logs:GetLogEvents on /aws/codebuild/<project>.
#
# Exit: 0 SUCCEEDED; 1 the build failed, faulted, timed out or was stopped, or we stopped waiting;
# 2 bad usage. An interrupted or timed-out `preview`/`drift` stops its build (nothing half-done: a
# preview changes nothing); an `up` is never stopped half-way (Pulumi would leave pending
# operations): the script says so, names the build and leaves it running.
set -euo pipefail

readonly SOURCE_KEY="deploy/in-cluster.zip" # mlinfra.aws.runner.SOURCE_KEY
readonly MODES="preview up drift"           # the PULUMI_COMMAND values the buildspec runs

usage() {
  echo "usage: $0 preview|up|drift (see the header of this script for its environment)" >&2
  exit 2
}

log() { printf '[run-in-cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[[ $# -eq 1 ]] || usage
mode=$1
[[ " $MODES " == *" $mode "* ]] || usage

poll=${MLINFRA_POLL_SECONDS:-20}
log_lines=${MLINFRA_LOG_LINES:-200}
ref=${MLINFRA_SOURCE_REF:-HEAD}
for n in "$poll" "$log_lines" "${MLINFRA_WAIT_MINUTES:-1}"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "not a whole number: '$n'" >&2; exit 2; }
done

platform_output() {
  if [[ -z ${MLINFRA_PLATFORM_STACK:-} ]]; then
    echo "set MLINFRA_PLATFORM_STACK (the platform stack) or MLINFRA_RUNNER_PROJECT and MLINFRA_SOURCE_BUCKET" >&2
    exit 2
  fi
  pulumi stack output --stack "$MLINFRA_PLATFORM_STACK" --cwd "${MLINFRA_PLATFORM_DIR:-stacks/aws}" "$1"
}

project=${MLINFRA_RUNNER_PROJECT:-}
[[ -n $project ]] || project=$(platform_output runner_project) || {
  echo "the platform stack exports no runner_project: is cluster.api_access private, and the platform stack up?" >&2
  exit 1
}
bucket=${MLINFRA_SOURCE_BUCKET:-}
[[ -n $bucket ]] || bucket=$(platform_output artifact_bucket)

bundle=$(mktemp)
trap 'rm -f "$bundle"' EXIT
commit=$(git rev-parse --verify "$ref^{commit}")
git archive --format=zip -o "$bundle" "$commit"
version=$(aws s3api put-object --bucket "$bucket" --key "$SOURCE_KEY" --body "$bundle" \
  --query VersionId --output text)
if [[ -z $version || $version == None || $version == null ]]; then
  echo "s3://$bucket/$SOURCE_KEY has no version id: the artifact bucket must be versioned" >&2
  exit 1
fi
log "uploaded $commit to s3://$bucket/$SOURCE_KEY (version $version)"

build=$(aws codebuild start-build --project-name "$project" --source-version "$version" \
  --environment-variables-override "name=PULUMI_COMMAND,value=$mode,type=PLAINTEXT" \
  --query build.id --output text)
log "started $mode on $project: build $build"

stop_or_leave() { # $1: why we stop waiting
  if [[ $mode == up ]]; then
    log "$1; build $build keeps running (an update is never stopped half-way): follow it in CodeBuild"
  else
    log "$1; stopping build $build"
    aws codebuild stop-build --id "$build" --query build.buildStatus --output text >&2 || true
  fi
}
trap 'stop_or_leave "interrupted"; exit 1' INT TERM

where() { [[ $link == None ]] || printf ' · logs: %s' "$link"; }

phase="" link=None deadline="" failures=0
while :; do
  if ! row=$(aws codebuild batch-get-builds --ids "$build" --output text \
    --query 'builds[0].[buildStatus,currentPhase,timeoutInMinutes,queuedTimeoutInMinutes,logs.groupName,logs.streamName,logs.deepLink]'); then
    failures=$((failures + 1))
    ((failures < 5)) || { stop_or_leave "batch-get-builds failed 5 times in a row"; exit 1; }
    sleep "$poll"
    continue
  fi
  failures=0
  IFS=$'\t' read -r status current timeout queued group stream link <<<"$row"
  if [[ -z $deadline ]]; then
    [[ $timeout =~ ^[0-9]+$ && $queued =~ ^[0-9]+$ ]] || { timeout=2160 queued=480; } # CodeBuild's maxima
    wait_minutes=${MLINFRA_WAIT_MINUTES:-$((queued + timeout + 10))}
    deadline=$((SECONDS + 60 * wait_minutes))
    log "waiting at most $wait_minutes min (queued timeout $queued + build timeout $timeout + 10)"
  fi
  if [[ $current != "$phase" ]]; then
    phase=$current
    log "$status $phase$(where)"
  fi
  [[ $status == IN_PROGRESS ]] || break
  if ((SECONDS >= deadline)); then
    trap - INT TERM
    stop_or_leave "still $status after $wait_minutes min"
    exit 1
  fi
  sleep "$poll"
done
trap - INT TERM

if [[ $group != None && $stream != None ]]; then
  log "last $log_lines log events of $group/$stream:"
  aws logs get-log-events --log-group-name "$group" --log-stream-name "$stream" --limit "$log_lines" \
    --query 'events[].[message]' --output text | sed -e '/^$/d' || log "could not read the log"
fi
log "build $build: $status$(where)"
[[ $status == SUCCEEDED ]]
