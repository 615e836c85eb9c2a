#!/usr/bin/env bash
# Record the quick tour as a person sees it, into docs/tour.md (or the file given).
#
#   scripts/record-tour.sh [OUT]
#
# Starts a whole cluster on this machine (`test-cluster`: the in-memory API server, the
# node stand-in running a real MariaDB per instance and Jobs as local processes), puts
# `kubectl-mysql` first on PATH, runs the operator beside it (`kubectl-mysql run-operator`:
# the test cluster has no container runtime to run the Deployment that `install` applies),
# then types the tour into a bash in tmux, a real terminal, so the spinners draw.
# Every command's screen is captured when it ends; for the waits also while they run,
# with the steps the spinner showed. Needs tmux, kubectl and Debian's MariaDB
# (`apt-get install -y tmux mariadb-server mariadb-client`).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-docs/tour.md}
export LC_ALL=C.UTF-8

for tool in tmux kubectl; do
  command -v "$tool" >/dev/null || { echo "record-tour: $tool is not installed" >&2; exit 1; }
done
cargo build -q --bin kubectl-mysql
cargo build -q -p testkit --bin test-cluster

work=$(mktemp -d /tmp/kubectl-mysql-tour.XXXXXX)
mkdir "$work/bin" "$work/home"
ln -s "$repo/target/debug/kubectl-mysql" "$work/bin/kubectl-mysql"
sock=$work/tmux.sock
cluster_pid= operator_pid=
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  [ -n "$operator_pid" ] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null
  # SIGTERM: test-cluster stops its MariaDB servers before it exits.
  [ -n "$cluster_pid" ] && kill "$cluster_pid" 2>/dev/null && wait "$cluster_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The cluster, without the CRD: `kubectl mysql install` brings it.
"$repo/target/debug/test-cluster" --without-crd --kubeconfig-out "$work/kubeconfig" \
  >"$work/cluster.out" 2>"$work/cluster.log" &
cluster_pid=$!
for _ in $(seq 100); do grep -q '^kubeconfig: ' "$work/cluster.out" && break; sleep 0.1; done
grep -q '^kubeconfig: ' "$work/cluster.out" || { cat "$work/cluster.log" >&2; exit 1; }

# A shell with nothing of this machine's setup: the plugin first on PATH, the kubeconfig.
tmux -S "$sock" -u -f /dev/null new-session -d -s tour -x 160 -y 60 \
  env -i PATH="$work/bin:$PATH" KUBECONFIG="$work/kubeconfig" HOME="$work/home" \
  TERM=xterm-256color LANG=C.UTF-8 PS1='$ ' bash --norc --noprofile
T() { tmux -S "$sock" "$@"; }

# The pane, trailing blanks and blank lines dropped.
screen() {
  T capture-pane -p -t tour | sed -e 's/[[:space:]]*$//' |
    awk '{ line[NR] = $0 } NF { last = NR } END { for (i = 1; i <= last; i++) print line[i] }'
}
spinner='^[^ $✓✗] \[[0-9]+s\] '

# run COMMAND [wait]: type it on a cleared screen, wait for the prompt, write the final
# screen to the recording; with `wait`, also a screen while it ran and every step shown.
run() {
  local command=$1 mode=${2:-} now last mid= steps=
  T send-keys -t tour clear Enter
  until [ "$(screen)" = '$' ]; do sleep 0.05; done
  T send-keys -t tour -l "$command"
  T send-keys -t tour Enter
  for _ in $(seq 3000); do
    now=$(screen)
    last=$(printf '%s\n' "$now" | tail -n 1)
    if [[ $last =~ $spinner ]]; then
      mid=$now
      step=${last#*s\] }
      grep -qxF -- "$step" <<<"$steps" || steps+="$step"$'\n'
    fi
    [ "$last" = '$' ] && [ "$(printf '%s\n' "$now" | wc -l)" -gt 1 ] && break
    sleep 0.1
  done
  [ "$last" = '$' ] || { echo "record-tour: $command did not finish:" >&2; echo "$now" >&2; exit 1; }
  {
    if [ "$mode" = wait ] && [ -n "$mid" ]; then
      echo 'While it runs (one frame of the spinner):'
      echo
      echo '```text'
      echo "$mid"
      echo '```'
      echo
      echo 'The steps the spinner showed, in order:'
      echo
      echo '```text'
      printf '%s' "$steps"
      echo '```'
      echo
      echo 'When it ends:'
      echo
    fi
    echo '```text'
    echo "$now"
    echo '```'
    echo
  } >>"$work/tour.md"
}
say() { printf '%s\n\n' "$*" >>"$work/tour.md"; }

# Wait (outside the recording) until the instance has the phase.
phase() {
  for _ in $(seq 1200); do
    [ "$(KUBECONFIG=$work/kubeconfig kubectl get mysql "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$2" ] && return
    sleep 0.1
  done
  echo "record-tour: $1 is not $2" >&2
  exit 1
}

cat >"$work/tour.md" <<'EOF'
# A tour, as a person sees it

Recorded by `scripts/record-tour.sh` (it rewrites this file): a bash in tmux, 160 columns,
against a cluster on one machine (`cargo run -p testkit --bin test-cluster`: the test API
server, a real MariaDB per instance, Jobs as local processes), with `kubectl-mysql` first
on `PATH` and `kubectl-mysql run-operator` running beside it in place of the operator
Deployment (there is no container runtime here). Times and names are those of the run.
Off a terminal (a pipe, CI logs) the same commands print plain lines, one per step.

## Install the plugin and the operator

EOF

run 'kubectl plugin list'
run 'kubectl mysql install | kubectl apply -f -'
KUBECONFIG=$work/kubeconfig "$repo/target/debug/kubectl-mysql" run-operator >"$work/operator.log" 2>&1 &
operator_pid=$!

say '## The seed'"'"'s walkthrough'
say 'The seed'"'"'s manifest, unchanged, applied with kubectl; the operator does the rest.'
run 'kubectl apply -f deploy/cr.yaml'
run "kubectl wait mysql/mysql-instance --for=jsonpath='{.status.phase}'=Ready --timeout=2m"
run 'kubectl mysql status'
say 'A backup now, with progress; it prints the backup'"'"'s name and size.'
run 'kubectl mysql backup mysql-instance --wait' wait
run 'kubectl mysql status mysql-instance'
say 'Deleting with kubectl, as the seed does: the finalizer backs the database up first, then removes the data volume; the backup volume stays.'
run 'kubectl delete mysql mysql-instance'
run 'kubectl get pv'
say 'Created again, the instance gets the latest backup back: the seed'"'"'s restore-job.'
run 'kubectl apply -f deploy/cr.yaml'
run "kubectl wait mysql/mysql-instance --for=jsonpath='{.status.message}'='mysql-instance created with restore-job' --timeout=2m"
run 'kubectl get mysql -o wide'

say '## By hand, waiting with a spinner'
say 'No manifest: the instance from flags, with a generated password kept in a Secret. `create --wait` reconciles by hand until Ready, so it works without the operator too.'
run 'kubectl mysql create shop --database shop --storage-size 1Gi --generate-password --wait' wait
run 'kubectl mysql backup shop --wait' wait
run 'kubectl mysql restore shop --wait' wait
run 'kubectl mysql delete shop --wait' wait

mkdir -p "$(dirname "$out")"
cp "$work/tour.md" "$out"
echo "record-tour: wrote $out" >&2
