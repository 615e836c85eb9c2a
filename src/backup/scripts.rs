//! The shell scripts of the backup and restore Jobs, byte for byte as the operator puts
//! them in the Job containers (`sh -c SCRIPT`) and as the tests run them against MariaDB.
//!
//! POSIX sh only, for the official `mysql` image (and the `mariadb` image, whose clients
//! may be named `mariadb-dump`/`mariadb`): mysqldump, mysql, gzip, sha256sum and coreutils.
//! Everything comes from the environment (see the `ENV_*` constants). The password
//! (`CLIENT_PASSWORD`, a `secretKeyRef`) leaves the environment before any tool runs and
//! reaches the tools through an option file in a memory-backed `CLIENT_DIR`, named as their
//! first option (`--defaults-extra-file`): never an argument or a tool's environment, so
//! neither `ps` nor `/proc/*/environ` shows it. No `MYSQL_PWD` (deprecated since MySQL 8.0).
//!
//! The backup volume holds a catalogue:
//! - `<YYYYMMDDTHHMMSSZ>.sql.gz`: a dump of the instance's database alone (no
//!   `--databases`, so no `CREATE DATABASE`/`USE`: a restore loads that database only and
//!   never the `mysql` system schema, so credentials stay as they are);
//! - `<YYYYMMDDTHHMMSSZ>.json`: its sidecar, written only after the dump was verified
//!   (decompresses, mysqldump's `-- Dump completed` marker is its last line):
//!   `{"name":...,"size":...,"sha256":...,"verified":true,"database":...,"created":...}`;
//! - `.<stamp>.*.partial`: work in progress, never restored, removed on failure and by the
//!   next backup.
//!
//! Each script ends with one JSON line on stdout, also written to the termination log
//! (`/dev/termination-log`, or `$TERMINATION_LOG` when set) for the operator to read back:
//! `{"op":"backup","ok":true,...}`, `{"op":"restore","ok":true,...}` or, on failure (exit
//! code 1, the cause on stderr too), `{"op":"backup","ok":false,"error":"..."}`.
//! [`super::catalogue::parse_report`] reads them.
//!
//! The backup reads the database from one of two places:
//! - the running server (`MYSQL_HOST`, `MYSQL_PORT`, `MYSQL_USER`, `CLIENT_PASSWORD`): on demand;
//! - the data volume (`MYSQL_DATADIR` set): on delete, when the Deployment and the password
//!   Secret may already be gone. The script starts a temporary server of the image on that
//!   data directory, private (`--no-defaults --skip-networking --skip-grant-tables`, a
//!   socket in a temp dir, as the directory's owner when run as root), dumps through the
//!   socket exactly as over the network, and shuts the server down cleanly (SIGTERM, also
//!   on failure). With `WIPE_DATADIR=true`, and only after a verified dump and a clean
//!   shutdown, it then empties the data directory (keeping the directory itself), so a
//!   re-created instance starts from its backup, never from stale files. Nothing else may
//!   run a server on that directory meanwhile: the instance's pod must be gone.

/// Host of the MySQL server (the instance's Service).
pub const ENV_HOST: &str = "MYSQL_HOST";
/// Its port; 3306 when empty.
pub const ENV_PORT: &str = "MYSQL_PORT";
/// The account the tools log in as (root).
pub const ENV_USER: &str = "MYSQL_USER";
/// The password, from a `secretKeyRef`; unset or empty for an account without one. The
/// script moves it into an option file in `CLIENT_DIR` and removes it from the environment
/// before any tool runs: no tool sees it in its environment or arguments (`MYSQL_PWD` is
/// deprecated since MySQL 8.0).
pub const ENV_PASSWORD: &str = "CLIENT_PASSWORD";
/// A memory-backed directory (an `emptyDir` with `medium: Memory`) for the clients' option
/// file, which every tool reads as its first option, `--defaults-extra-file`.
pub const ENV_CLIENT_DIR: &str = "CLIENT_DIR";
/// The instance's database, the only one dumped and loaded.
pub const ENV_DATABASE: &str = "MYSQL_DATABASE";
/// Where the backup volume is mounted.
pub const ENV_BACKUP_DIR: &str = "BACKUP_DIR";
/// Restore only: the backup to load (`<stamp>` or `<stamp>.sql.gz`); empty = latest verified.
pub const ENV_BACKUP_NAME: &str = "BACKUP_NAME";
/// Backup only: how many verified backups to keep (at least 1).
pub const ENV_RETENTION: &str = "RETENTION";
/// Optional: where to write the result line instead of `/dev/termination-log`.
pub const ENV_TERMINATION_LOG: &str = "TERMINATION_LOG";
/// Backup only: the data directory (the data volume's mount path, e.g. `/var/lib/mysql`).
/// When set, the dump comes from a temporary server on it, and no `MYSQL_HOST`, `MYSQL_PORT`
/// or password is needed (`MYSQL_USER` defaults to root).
pub const ENV_DATADIR: &str = "MYSQL_DATADIR";
/// Backup from `MYSQL_DATADIR` only: `true` empties the data directory after a verified
/// dump (default `false`).
pub const ENV_WIPE_DATADIR: &str = "WIPE_DATADIR";
/// Backup from `MYSQL_DATADIR` only: seconds the temporary server may take to start, and
/// again to stop (default 300).
pub const ENV_SERVER_TIMEOUT: &str = "SERVER_TIMEOUT";

/// Backup and restore: `true` when the instance archives its binary log (`spec.pitr`). A
/// backup then records the dump's binlog position and prunes the archive with the dumps.
pub const ENV_PITR: &str = "PITR";
/// Restore only: replay the archived binary log after the dump up to this UTC time,
/// `YYYY-MM-DD HH:MM:SS` (what `mysqlbinlog --stop-datetime` reads with `TZ=UTC0`);
/// events of that second and later are not applied.
pub const ENV_TARGET_TIME: &str = "TARGET_TIME";
/// Restore only: the same time as seconds since the epoch, for the script's comparisons.
pub const ENV_TARGET_EPOCH: &str = "TARGET_EPOCH";
/// Restore only: replay up to this binlog position, `FILE:POS` (`binlog.000042:1234`);
/// the event at POS and later are not applied.
pub const ENV_TARGET_POSITION: &str = "TARGET_POSITION";
/// Restore to a point only: how long to wait for the archive sidecar to copy the binlog
/// file the restore closed (`FLUSH BINARY LOGS`) when the archive ends before the target
/// (default 120 s).
pub const ENV_ARCHIVE_WAIT: &str = "ARCHIVE_WAIT";
/// Archive sidecar only: seconds between `FLUSH BINARY LOGS` (`spec.pitr_flush_seconds`).
pub const ENV_FLUSH_SECONDS: &str = "FLUSH_SECONDS";
/// The subdirectory of the backup volume holding the binary-log archive.
pub const ARCHIVE_DIR: &str = "binlog";

/// Every variable the backup script reads.
pub const BACKUP_ENV: &[&str] = &[
    ENV_HOST,
    ENV_PORT,
    ENV_USER,
    ENV_PASSWORD,
    ENV_CLIENT_DIR,
    ENV_DATABASE,
    ENV_BACKUP_DIR,
    ENV_RETENTION,
    ENV_TERMINATION_LOG,
    ENV_DATADIR,
    ENV_WIPE_DATADIR,
    ENV_SERVER_TIMEOUT,
    ENV_PITR,
];
/// Every variable the restore script reads.
pub const RESTORE_ENV: &[&str] = &[
    ENV_HOST,
    ENV_PORT,
    ENV_USER,
    ENV_PASSWORD,
    ENV_CLIENT_DIR,
    ENV_DATABASE,
    ENV_BACKUP_DIR,
    ENV_BACKUP_NAME,
    ENV_TERMINATION_LOG,
    ENV_TARGET_TIME,
    ENV_TARGET_EPOCH,
    ENV_TARGET_POSITION,
    ENV_ARCHIVE_WAIT,
];
/// Every variable the archive sidecar reads.
pub const ARCHIVE_ENV: &[&str] = &[
    ENV_HOST,
    ENV_PORT,
    ENV_USER,
    ENV_PASSWORD,
    ENV_CLIENT_DIR,
    ENV_DATADIR,
    ENV_BACKUP_DIR,
    ENV_FLUSH_SECONDS,
    ENV_TERMINATION_LOG,
];

/// The shell variable `password` as one argument for an option file's `password="..."`:
/// `\` and `"` escaped, as MySQL and MariaDB read quoted option values. Shared by the Job
/// scripts and the readiness probe.
macro_rules! escaped_password {
    () => {
        r#""$(printf '%s' "$password" | sed 's/[\\"]/\\&/g')""#
    };
}
pub(crate) use escaped_password;

/// What every script starts with: strict mode, the one-line JSON report, `fail`, and
/// the signal traps. A macro so that the scripts are `&'static str` constants built with
/// `concat!`.
macro_rules! reporting {
    () => {
        r#"set -eu
umask 027

json_escape() {
  printf '%s' "$1" | tr -d '\000-\037' | cut -c1-1500 | sed 's/\\/\\\\/g; s/"/\\"/g'
}

report() {
  printf '%s\n' "$1"
  if [ -n "${TERMINATION_LOG:-}" ]; then
    printf '%s\n' "$1" >"$TERMINATION_LOG" || true
  elif [ -w /dev/termination-log ]; then
    printf '%s\n' "$1" >/dev/termination-log || true
  fi
}

fail() {
  printf '%s failed: %s\n' "$op" "$1" >&2
  report "{\"op\":\"$op\",\"ok\":false,\"error\":\"$(json_escape "$1")\"}"
  exit 1
}

# As PID 1 of a container, sh ignores signals it has no trap for. The trap runs once the
# running command ends; the EXIT trap then removes this run's partial files.
trap 'fail "stopped by SIGTERM (the Job was deleted or ran past its deadline)"' TERM
trap 'fail "stopped by SIGINT"' INT
"#
    };
}

/// The password into the clients' option file (`$client_cnf`), out of the environment
/// before any tool runs: written (umask 077, `\` and `"` escaped) into the memory-backed
/// `CLIENT_DIR`; each tool names it as its first option.
macro_rules! option_file {
    () => {
        concat!(
            r#"password=${CLIENT_PASSWORD:-}
unset CLIENT_PASSWORD
[ -n "${CLIENT_DIR:-}" ] || fail "CLIENT_DIR is not set"
[ -d "$CLIENT_DIR" ] || fail "the client directory $CLIENT_DIR does not exist"
client_cnf="$CLIENT_DIR/client.cnf"
(
  umask 077
  printf '[client]\n' >"$client_cnf" || exit 1
  [ -z "$password" ] ||
    printf 'password="%s"\n' "#,
            escaped_password!(),
            r#" >>"$client_cnf" ||
    exit 1
) || fail "cannot write the clients' option file into $CLIENT_DIR"
password=
"#
        )
    };
}

/// What the backup and restore Jobs start with: [`reporting`], checks of the environment,
/// the lock on the backup volume, the option file, the catalogue's helpers.
macro_rules! common {
    () => {
        concat!(
            reporting!(),
            r#"
[ -n "${MYSQL_DATABASE:-}" ] || fail "MYSQL_DATABASE is not set"
case "$MYSQL_DATABASE" in
  *[!A-Za-z0-9_\$-]*) fail "MYSQL_DATABASE must match ^[A-Za-z0-9_\$-]{1,64}\$" ;;
esac
[ "${#MYSQL_DATABASE}" -le 64 ] || fail "MYSQL_DATABASE is longer than 64 characters"
[ -n "${BACKUP_DIR:-}" ] || fail "BACKUP_DIR is not set"
[ -d "$BACKUP_DIR" ] || fail "the backup directory $BACKUP_DIR does not exist"
command -v gzip >/dev/null 2>&1 || fail "gzip is not installed in this image"
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is not installed in this image"

# One Job at a time on an instance's backup volume: its backups (on demand, scheduled, on
# delete, before an upgrade) and its restores. mkdir is atomic on every filesystem; the
# lock names its holder and the holder's EXIT trap removes it. A holder killed outright
# (SIGKILL, a lost node) leaves it behind: no Job of the product runs longer than its
# deadline (at most 3600 s) plus the grace period, so a lock older than 3660 s is stale
# and taken over (renamed away first, so two takers cannot both win).
lock_dir="$BACKUP_DIR/.lock"
locked=""
release_lock() {
  if [ -n "$locked" ]; then
    rm -rf "$lock_dir" || true
    locked=""
  fi
}
trap release_lock EXIT
if ! mkdir "$lock_dir" 2>/dev/null; then
  [ -d "$lock_dir" ] || fail "cannot create the lock $lock_dir: is the backup volume writable by uid $(id -u)?"
  since=$(stat -c %Y "$lock_dir" 2>/dev/null || date +%s)
  age=$(($(date +%s) - since))
  holder=$(cat "$lock_dir/holder" 2>/dev/null || true)
  if [ "$age" -gt 3660 ]; then
    printf '%s: taking over a stale lock of %s (%ss old)\n' "$op" "${holder:-an unknown Job}" "$age" >&2
    mv "$lock_dir" "$lock_dir.stale.$$" 2>/dev/null && rm -rf "$lock_dir.stale.$$"
    mkdir "$lock_dir" 2>/dev/null || fail "the backup volume is busy: another Job took it over just now; try again"
  else
    fail "the backup volume is busy: ${holder:-another Job} has held it for ${age}s (a backup and a restore of one instance never run at once); try again once it ends (a scheduled backup runs again at its next time)"
  fi
fi
locked=1
printf '%s by pod %s\n' "$op" "${HOSTNAME:-$(hostname 2>/dev/null || echo unknown)}" >"$lock_dir/holder" || true

# The password reaches the tools through an option file, never their environment or
# arguments.
"#,
            option_file!(),
            r#"
# The last line of a command's captured error output, for the one-line cause.
last_error() {
  printf '%s\n' "$1" | grep -v '^@status ' | grep -v '^[[:space:]]*$' | tail -n 1
}

# The catalogue's stamps (YYYYMMDDTHHMMSSZ) of dumps and sidecars, newest first.
stamps() {
  ls -1 "$BACKUP_DIR" | while IFS= read -r entry; do
    case "$entry" in
      [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.sql.gz) printf '%s\n' "${entry%.sql.gz}" ;;
      [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.json) printf '%s\n' "${entry%.json}" ;;
    esac
  done | sort -r -u
}

# Whether a dump is complete, in one pass: it decompresses (gzip checks the CRC and the
# length) and mysqldump's completion marker is its last line. Sets `why` when not.
check_content() {
  last=$({ gzip -dc "$1" 2>/dev/null || printf '\n@gzip-failed\n'; } | tail -n 1)
  case "$last" in
    "-- Dump completed"*) return 0 ;;
    @gzip-failed) why="it does not decompress (truncated or corrupt)" ;;
    *) why="mysqldump's completion marker '-- Dump completed' is missing: the dump is incomplete" ;;
  esac
  return 1
}
"#
        )
    };
}

/// The binary-log archive on the backup volume, as the sidecar writes it and the backup
/// and restore read it: `binlog/<name>` (a closed binlog file, byte for byte) and
/// `binlog/<name>.json` (written last: `{"name":...,"size":N,"sha256":"...","first":EPOCH,
/// "until":EPOCH}`; `first` is the file's first event time, `until` the next file's, i.e.
/// when this one was closed); `binlog/horizon`, the oldest file a kept backup needs.
macro_rules! binlogs {
    () => {
        r#"
archive="$BACKUP_DIR/binlog"

# A field of a one-line JSON file (a string's value, or a number).
json_field() {
  sed -n "s/.*\"$2\":\"*\([^\",}]*\).*/\1/p" "$1" | head -n 1
}

# binlog.000042 -> 42, without a process (sh reads leading zeros as octal).
binlog_seq() {
  n=${1##*.}
  while [ "${n#0}" != "$n" ]; do
    n=${n#0}
  done
  printf '%s' "${n:-0}"
}

# The file of sequence $2 in the series of $1: the same base name and width.
binlog_name() {
  digits=${1##*.}
  printf "%s.%0${#digits}d" "${1%.*}" "$2"
}

# An epoch second as RFC 3339 UTC (GNU and busybox date).
utc() {
  date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || printf '@%s' "$1"
}

# The archived files, in sequence order: "SEQ NAME FIRST UNTIL" lines. Each entry is read
# by the shell itself and all are parsed by one sed: thousands of files stay cheap.
archived() {
  for entry in "$archive"/*.json; do
    [ -f "$entry" ] || continue
    IFS= read -r line <"$entry" || [ -n "$line" ] || continue
    printf '%s\n' "$line"
  done | sed -n 's/^{"name":"\(\([A-Za-z0-9_-]*\)\.0*\([0-9][0-9]*\)\)",.*"first":\([0-9]*\),"until":\([0-9]*\)}$/\3 \1 \4 \5/p' | sort -n
}

# The archive's history: a name given when it was started. A server whose files are
# numbered from 1 again (a new data directory, RESET BINARY LOGS) starts a new history; a
# backup's position is only good in the history it records. Made once (noclobber: the
# first writer wins).
history_id() {
  if [ ! -s "$archive/history" ]; then
    mkdir -p "$archive" || return 1
    (
      set -C
      printf '%s-%s\n' "$(date -u +%Y%m%dT%H%M%SZ)" "$$" >"$archive/history"
    ) 2>/dev/null || true
  fi
  IFS= read -r history <"$archive/history" || [ -n "$history" ]
  printf '%s' "$history"
}

# The restorable window, as epoch seconds (empty when there is none): from the second after
# the oldest verified backup of this history with a binlog position (its snapshot may fall
# in its own second) to the end of the newest archived file.
window() {
  window_from=""
  current=$(cat "$archive/history" 2>/dev/null || true)
  for s in $(stamps); do
    f="$BACKUP_DIR/$s.json"
    if [ -f "$f" ] && [ -f "$BACKUP_DIR/$s.sql.gz" ] && grep -q '"verified":true' "$f" &&
      [ -n "$current" ] && [ "$(json_field "$f" history)" = "$current" ]; then
      at=$(json_field "$f" at)
      [ -z "$at" ] || window_from=$((at + 1))
    fi
  done
  listing=$(archived)
  window_to=$(printf '%s\n' "$listing" | tail -n 1 | cut -d ' ' -f 4)
  window_files=$(printf '%s\n' "$listing" | grep -c . || true)
}
"#
    };
}

/// The checks of the connection to a running server: `MYSQL_HOST`, `MYSQL_PORT` (3306 when
/// empty) and `MYSQL_USER`. (A backup from the data directory needs none of them.)
macro_rules! connection {
    () => {
        r#"[ -n "${MYSQL_HOST:-}" ] || fail "MYSQL_HOST is not set"
MYSQL_PORT=${MYSQL_PORT:-3306}
case "$MYSQL_PORT" in
  *[!0-9]*) fail "MYSQL_PORT must be a port number, not '$MYSQL_PORT'" ;;
esac
[ -n "${MYSQL_USER:-}" ] || fail "MYSQL_USER is not set"
"#
    };
}

/// The backup Job's script. Reads `MYSQL_HOST`, `MYSQL_PORT`, `MYSQL_USER`, `CLIENT_PASSWORD`,
/// `CLIENT_DIR`, `MYSQL_DATABASE`, `BACKUP_DIR`, `RETENTION` (and optionally `TERMINATION_LOG`,
/// `SERVER_WAIT`: how long a server that refuses connections is waited for, 60 s); or, from
/// the data volume, `MYSQL_DATADIR` instead of the connection (optionally `WIPE_DATADIR`,
/// `SERVER_TIMEOUT`, `MYSQL_USER`).
///
/// Dumps the database with `--single-transaction --routines --triggers --events
/// --no-tablespaces --hex-blob` (what MySQL 8 and MariaDB both accept; `--no-tablespaces`
/// spares the PROCESS privilege MySQL 8.0.21+ wants otherwise; on a mysqldump that knows
/// `--set-gtid-purged` it adds `=OFF` so a dump from a GTID server loads anywhere), gzips it
/// into `.<stamp>.sql.gz.partial`, verifies it, renames it to `<stamp>.sql.gz`, writes the
/// sidecar and prunes to the `RETENTION` newest verified backups. Prints
/// `{"op":"backup","ok":true,"backup":"<stamp>.sql.gz","size":N,"sha256":"...","verified":true,
/// "database":"...","created":"<RFC 3339>","retained":N,"pruned":["..."]}`; from the data
/// directory the line ends `...,"pruned":[...],"source":"datadir","wiped":true|false}` (see
/// the module docs: the temporary server, its clean shutdown, the wipe).
pub const BACKUP_SCRIPT: &str = concat!(
    "op=backup\n",
    common!(),
    binlogs!(),
    r#"
RETENTION=${RETENTION:-}
case "$RETENTION" in
  '' | *[!0-9]*) fail "RETENTION must be a number of backups to keep, at least 1, not '$RETENTION'" ;;
esac
[ "$RETENTION" -ge 1 ] || fail "RETENTION must be at least 1"
[ -w "$BACKUP_DIR" ] || fail "the backup directory $BACKUP_DIR is not writable"
dump_tool=$(command -v mysqldump || command -v mariadb-dump) || fail "mysqldump is not installed in this image"

# Where the dump comes from: the running server, or the data directory.
MYSQL_DATADIR=${MYSQL_DATADIR:-}
WIPE_DATADIR=${WIPE_DATADIR:-false}
case "$WIPE_DATADIR" in
  true | false) ;;
  *) fail "WIPE_DATADIR must be true or false, not '$WIPE_DATADIR'" ;;
esac
if [ -z "$MYSQL_DATADIR" ]; then
  [ "$WIPE_DATADIR" = false ] || fail "WIPE_DATADIR=true needs MYSQL_DATADIR: only a backup from the data directory may empty it"
"#,
    connection!(),
    r#"else
  # Any account will do: the temporary server runs without grant tables.
  MYSQL_USER=${MYSQL_USER:-root}
  SERVER_TIMEOUT=${SERVER_TIMEOUT:-300}
  case "$SERVER_TIMEOUT" in
    '' | *[!0-9]*) fail "SERVER_TIMEOUT must be a number of seconds, not '$SERVER_TIMEOUT'" ;;
  esac
  case "$MYSQL_DATADIR" in
    /*[!/]*) ;;
    *) fail "MYSQL_DATADIR must be an absolute path below /, not '$MYSQL_DATADIR'" ;;
  esac
  [ -d "$MYSQL_DATADIR" ] || fail "the data directory $MYSQL_DATADIR does not exist (is the data volume mounted?)"
  [ -r "$MYSQL_DATADIR" ] && [ -x "$MYSQL_DATADIR" ] || fail "the data directory $MYSQL_DATADIR is not readable by uid $(id -u)"
  [ -n "$(ls -A "$MYSQL_DATADIR")" ] || fail "the data directory $MYSQL_DATADIR is empty: no server ever initialised it, there is nothing to back up"
  [ -d "$MYSQL_DATADIR/mysql" ] || fail "$MYSQL_DATADIR is not a MySQL data directory: it has no mysql system schema"
  server=$(command -v mariadbd || command -v mysqld || command -v /usr/sbin/mysqld || command -v /usr/libexec/mysqld) ||
    fail "the MySQL server (mysqld or mariadbd) is not installed in this image: a backup from the data directory needs the server's image"
  admin=$(command -v mysqladmin || command -v mariadb-admin) || fail "mysqladmin is not installed in this image"
fi

# The temporary server on the data directory: private (no network, a socket in a temp dir),
# no grant tables (the password Secret may be gone), no option files. `wrapper` reaps it
# and writes its exit status to server.exited, so a stop can be waited for with a bound.
tmp=""
wrapper=""
partial=""
sidecar_partial=""

# The server's first error (the cause; its last one is mostly "Aborting").
server_error() {
  line=$(cat "$tmp/error.log" "$tmp/server.out" 2>/dev/null | grep '\[ERROR\]' | head -n 1 | sed 's/^.*\[ERROR\] *//' || true)
  [ -n "$line" ] || line=$(cat "$tmp/error.log" "$tmp/server.out" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n 1 || true)
  printf '%s' "${line:-it logged nothing}"
}

start_server() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/mysql-backup.XXXXXX") || fail "cannot make a temporary directory in ${TMPDIR:-/tmp} for the temporary server"
  set --
  if [ "$(id -u)" = 0 ]; then
    # mysqld refuses to run as root unless told to: run it as the data directory's owner
    # (mysql in the official images), else mysql, else root.
    owner=$(stat -c %U "$MYSQL_DATADIR" 2>/dev/null || true)
    if [ -n "$owner" ] && [ "$owner" != UNKNOWN ] && id -u "$owner" >/dev/null 2>&1; then
      run_as=$owner
    elif id -u mysql >/dev/null 2>&1; then
      run_as=mysql
    else
      run_as=root
    fi
    chown "$run_as" "$tmp" || fail "cannot give the temporary directory $tmp to $run_as"
    set -- --user="$run_as"
  fi
  printf 'backup: starting a temporary server on %s (%s)\n' "$MYSQL_DATADIR" "$server" >&2
  (
    "$server" --no-defaults --datadir="$MYSQL_DATADIR" "$@" --skip-networking --skip-grant-tables \
      --socket="$tmp/mysqld.sock" --pid-file="$tmp/mysqld.pid" --log-error="$tmp/error.log" \
      --tmpdir="$tmp" --secure-file-priv="$tmp" --loose-mysqlx=OFF \
      </dev/null >"$tmp/server.out" 2>&1 &
    echo "$!" >"$tmp/server.child"
    rc=0
    wait "$!" || rc=$?
    echo "$rc" >"$tmp/server.exited"
  ) </dev/null >/dev/null 2>&1 &
  wrapper=$!
  waited=0
  until "$admin" --defaults-extra-file="$client_cnf" --protocol=SOCKET --socket="$tmp/mysqld.sock" --user="$MYSQL_USER" --connect-timeout=5 ping >/dev/null 2>&1; do
    if [ -s "$tmp/server.exited" ]; then
      tail -n 20 "$tmp/error.log" >&2 2>/dev/null || true
      fail "the temporary server on $MYSQL_DATADIR did not start (exit status $(cat "$tmp/server.exited")): $(server_error)"
    fi
    if [ "$waited" -ge "$SERVER_TIMEOUT" ]; then
      tail -n 20 "$tmp/error.log" >&2 2>/dev/null || true
      fail "the temporary server on $MYSQL_DATADIR did not answer within ${SERVER_TIMEOUT}s: $(server_error)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# Whether the temporary server exits within $1 seconds.
server_exits_within() {
  i=0
  while [ ! -s "$tmp/server.exited" ]; do
    [ "$i" -lt "$1" ] || return 1
    sleep 1
    i=$((i + 1))
  done
}

# Stop the temporary server (SIGTERM: a clean shutdown; SIGKILL only if it hangs). Returns
# non-zero unless it shut down cleanly. Never calls `fail`: the EXIT trap runs it too.
stop_server() {
  [ -n "$wrapper" ] || return 0
  if [ ! -s "$tmp/server.exited" ]; then
    printf 'backup: stopping the temporary server\n' >&2
    i=0
    while [ ! -s "$tmp/server.child" ] && [ "$i" -lt 50 ]; do
      sleep 0.1 2>/dev/null || sleep 1
      i=$((i + 1))
    done
    child=$(cat "$tmp/server.child" 2>/dev/null || true)
    [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
    if ! server_exits_within "$SERVER_TIMEOUT"; then
      printf 'backup: the temporary server did not stop within %ss, killing it\n' "$SERVER_TIMEOUT" >&2
      [ -z "$child" ] || kill -KILL "$child" 2>/dev/null || true
      server_exits_within 30 || true
    fi
  fi
  server_rc=$(cat "$tmp/server.exited" 2>/dev/null || true)
  wait "$wrapper" 2>/dev/null || true
  wrapper=""
  [ "$server_rc" = 0 ]
}

# On any exit: this run's partial files go, and the temporary server is stopped.
cleanup() {
  rm -f "${partial:-/nonexistent}" "${sidecar_partial:-/nonexistent}" || true
  if [ -n "$wrapper" ] && [ -s "$tmp/server.exited" ]; then
    stop_server || true
  elif [ -n "$wrapper" ]; then
    stop_server || printf 'backup: the temporary server did not shut down cleanly: %s\n' "$(server_error)" >&2
  fi
  if [ -n "$tmp" ]; then
    rm -rf "$tmp" || true
  fi
  release_lock
  true
}
trap cleanup EXIT

# Leftovers of a run that was killed (backup and restore of one instance never run at once).
rm -f "$BACKUP_DIR"/.*.partial

if [ -z "$MYSQL_DATADIR" ]; then
  set -- --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP
  from="$MYSQL_HOST:$MYSQL_PORT"
  # A server whose mysqld crashed is restarted in its pod (InnoDB recovers first): this
  # attempt waits up to SERVER_WAIT seconds (60) for it to take connections again rather
  # than failing at once (the Job's few retries could all pass while it recovers). Any
  # other error goes on to the dump, which reports it.
  SERVER_WAIT=${SERVER_WAIT:-60}
  case "$SERVER_WAIT" in
    '' | *[!0-9]*) fail "SERVER_WAIT must be a number of seconds, not '$SERVER_WAIT'" ;;
  esac
  client=$(command -v mysql || command -v mariadb) || fail "the mysql client is not installed in this image"
  waited=0
  while ! answer=$("$client" --defaults-extra-file="$client_cnf" "$@" --user="$MYSQL_USER" --connect-timeout=5 --batch --skip-column-names -e 'SELECT 1' 2>&1); do
    case "$answer" in
      *"ERROR 2002"* | *"ERROR 2003"* | *"ERROR 2013"*) ;;
      *) break ;;
    esac
    if [ "$waited" -ge "$SERVER_WAIT" ]; then
      fail "the server at $from does not take connections after $SERVER_WAIT s: $answer"
    fi
    [ "$waited" -gt 0 ] || printf 'backup: waiting for the server at %s to take connections (%s)\n' "$from" "$answer" >&2
    sleep 1
    waited=$((waited + 1))
  done
else
  start_server
  set -- --protocol=SOCKET --socket="$tmp/mysqld.sock"
  from="the data directory $MYSQL_DATADIR (temporary server)"
fi

# The stamp of this backup, once per second at most (the catalogue is sorted by name).
while :; do
  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  stamp=$(printf '%s' "$created" | tr -d ':-')
  [ -e "$BACKUP_DIR/$stamp.sql.gz" ] || [ -e "$BACKUP_DIR/$stamp.json" ] || break
  sleep 1
done
name="$stamp.sql.gz"
partial="$BACKUP_DIR/.$stamp.sql.gz.partial"
sidecar_partial="$BACKUP_DIR/.$stamp.json.partial"

# With the binary-log archive, the dump records where the log stood at its snapshot: the
# point a replay starts from. MySQL's mysqldump calls it --source-data (--master-data is
# its deprecated alias); MariaDB's has only --master-data. Both refuse a server that does
# not log (a pod still rolling out with the new options): that dump goes without. Never
# from the data directory: that temporary server's log is not the archive's.
PITR=${PITR:-false}
case "$PITR" in
  true | false) ;;
  *) fail "PITR must be true or false, not '$PITR'" ;;
esac
positioned=false
if [ "$PITR" = true ] && [ -z "$MYSQL_DATADIR" ]; then
  client=$(command -v mysql || command -v mariadb) || fail "the mysql client is not installed in this image"
  log_bin=$("$client" --defaults-extra-file="$client_cnf" "$@" --user="$MYSQL_USER" --batch --skip-column-names -e 'SELECT @@log_bin' 2>/dev/null || true)
  if [ "$log_bin" = 1 ]; then
    positioned=true
    if "$dump_tool" --help 2>/dev/null | grep -q -e '--source-data'; then
      set -- "$@" --source-data=2
    else
      set -- "$@" --master-data=2
    fi
  else
    printf 'backup: the server does not log its changes yet (@@log_bin is %s): this backup cannot start a point-in-time restore\n' "${log_bin:-unknown}" >&2
  fi
fi
if "$dump_tool" --help 2>/dev/null | grep -q -e '--set-gtid-purged'; then
  set -- "$@" --set-gtid-purged=OFF
fi

printf 'backup: dumping database %s from %s into %s\n' "$MYSQL_DATABASE" "$from" "$name" >&2
# sh has no pipefail: each side of the pipe reports its status on fd 3, with the tools'
# error output, into `out`.
out=$(
  {
    {
      rc=0
      "$dump_tool" --defaults-extra-file="$client_cnf" "$@" --user="$MYSQL_USER" \
        --single-transaction --routines --triggers --events --no-tablespaces --hex-blob \
        --default-character-set=utf8mb4 -- "$MYSQL_DATABASE" 2>&3 || rc=$?
      echo "@status dump $rc" >&3
    } | {
      rc=0
      gzip -c >"$partial" 2>&3 || rc=$?
      echo "@status gzip $rc" >&3
    }
  } 3>&1
)
errors=$(printf '%s\n' "$out" | grep -v '^@status ' || true)
[ -z "$errors" ] || printf '%s\n' "$errors" >&2
dump_rc=$(printf '%s\n' "$out" | sed -n 's/^@status dump //p')
gzip_rc=$(printf '%s\n' "$out" | sed -n 's/^@status gzip //p')

# The temporary server is done: stop it before anything else, whatever the dump did.
stopped=true
if [ -n "$MYSQL_DATADIR" ] && ! stop_server; then
  stopped=false
  stop_error=$(server_error)
fi

# The writer first: when it fails (a full volume), the dump only sees a broken pipe.
gzip_error=$(printf '%s\n' "$out" | grep '^gzip' | tail -n 1 || true)
case "$gzip_rc:$gzip_error" in
  0:*) ;;
  *"No space left on device"*)
    fail "the backup volume $BACKUP_DIR is full ($gzip_error): the earlier backups are kept; keep fewer (spec.backup_retention) or give the backup volume more space" ;;
esac
[ "$gzip_rc" = 0 ] || fail "gzip could not write $partial (status ${gzip_rc:-unknown}): ${gzip_error:-$(last_error "$out")}"
[ "$dump_rc" = 0 ] || fail "mysqldump exited with status ${dump_rc:-unknown}: $(last_error "$out")"

check_content "$partial" || fail "the new dump failed verification: $why"
# The snapshot is older than this second: a restore to a later time may start from it.
dumped_at=$(date +%s)
# The server's version, from the dump's header: a change of image compares release series.
server_version=$(gzip -dc "$partial" 2>/dev/null | head -n 20 | sed -n 's/^-- Server version[[:space:]]*//p' | head -n 1)
# The binlog position of the snapshot, as MySQL (CHANGE REPLICATION SOURCE TO
# SOURCE_LOG_FILE=...) and MariaDB (CHANGE MASTER TO MASTER_LOG_FILE=...) comment it.
binlog_fields=""
if [ "$positioned" = true ]; then
  position=$(gzip -dc "$partial" 2>/dev/null | head -n 80 | sed -n "s/^-- CHANGE [A-Z ]* TO [A-Z]*_LOG_FILE='\([^']*\)', *[A-Z]*_LOG_POS=\([0-9]*\);.*/\1 \2/p" | head -n 1)
  history=$(history_id) || fail "cannot make the archive's history in $archive"
  if [ -n "$position" ]; then
    binlog_fields=",\"binlog\":{\"file\":\"${position% *}\",\"pos\":${position#* },\"at\":$dumped_at,\"history\":\"$history\"}"
  else
    printf 'backup: the dump records no binlog position (is the binary log on?): it cannot start a point-in-time restore\n' >&2
  fi
fi
size=$(wc -c <"$partial" | tr -d ' ')
sha256=$(sha256sum <"$partial" | cut -d ' ' -f 1)
sync "$partial" 2>/dev/null || true
mv -f "$partial" "$BACKUP_DIR/$name" || fail "cannot rename the verified dump to $name"
printf '{"name":"%s","size":%s,"sha256":"%s","verified":true,"database":"%s","created":"%s"%s}\n' \
  "$name" "$size" "$sha256" "$MYSQL_DATABASE" "$created" "$binlog_fields" >"$sidecar_partial" || { partial="$BACKUP_DIR/$name"; fail "cannot write the catalogue entry $stamp.json"; }
sync "$sidecar_partial" 2>/dev/null || true
mv -f "$sidecar_partial" "$BACKUP_DIR/$stamp.json" || { partial="$BACKUP_DIR/$name"; fail "cannot write the catalogue entry $stamp.json"; }
printf 'backup: %s verified (%s bytes, sha256 %s)\n' "$name" "$size" "$sha256" >&2

# Retention: keep the RETENTION newest verified backups and anything newer than the oldest
# of them; remove everything older (dumps, sidecars, unverified leftovers).
kept=0
pruned=""
for s in $(stamps); do
  if [ "$kept" -ge "$RETENTION" ]; then
    rm -f "$BACKUP_DIR/$s.sql.gz" "$BACKUP_DIR/$s.json"
    pruned="$pruned${pruned:+,}\"$s.sql.gz\""
    printf 'backup: pruned %s.sql.gz (retention %s)\n' "$s" "$RETENTION" >&2
  elif [ -f "$BACKUP_DIR/$s.sql.gz" ] && [ -f "$BACKUP_DIR/$s.json" ] && grep -q '"verified":true' "$BACKUP_DIR/$s.json"; then
    kept=$((kept + 1))
  fi
done

# The archive keeps what a replay from the oldest kept backup needs, and no more: the
# files before its position go, and `horizon` tells the sidecar not to copy them again.
# An archive of an earlier history (binlog.<history>) goes once no kept backup is of it.
pitr_fields=""
if [ "$PITR" = true ] && [ -z "$MYSQL_DATADIR" ]; then
  current=$(cat "$archive/history" 2>/dev/null || true)
  oldest=""
  histories=" "
  for s in $(stamps); do
    f="$BACKUP_DIR/$s.json"
    if [ -f "$f" ] && [ -f "$BACKUP_DIR/$s.sql.gz" ] && grep -q '"verified":true' "$f"; then
      of=$(json_field "$f" history)
      [ -z "$of" ] || histories="$histories$of "
      file=$(json_field "$f" file)
      [ -z "$file" ] || [ "$of" != "$current" ] || oldest=$file
    fi
  done
  for retired in "$BACKUP_DIR"/binlog.*; do
    [ -d "$retired" ] || continue
    case "$histories" in
      *" ${retired##*/binlog.} "*) ;;
      *)
        rm -rf "$retired"
        printf 'backup: removed %s: no kept backup is of that binlog history\n' "${retired##*/}" >&2
        ;;
    esac
  done
  pruned_binlogs=0
  if [ -n "$oldest" ] && [ -d "$archive" ]; then
    keep_from=$(binlog_seq "$oldest")
    printf '%s\n' "$oldest" >"$archive/.horizon.partial" && mv -f "$archive/.horizon.partial" "$archive/horizon" ||
      fail "cannot write $archive/horizon"
    # Every file before it, recorded or not (a copy killed before its entry was written).
    for path in "$archive"/*; do
      file=${path##*/}
      case "$file" in
        *.json) file=${file%.json} ;;
        horizon | history) continue ;;
      esac
      case "$file" in
        *.[0-9]*) ;;
        *) continue ;;
      esac
      if [ "$(binlog_seq "$file")" -lt "$keep_from" ]; then
        rm -f "$path"
        case "$path" in
          *.json) pruned_binlogs=$((pruned_binlogs + 1)) ;;
        esac
      fi
    done
    [ "$pruned_binlogs" = 0 ] || printf 'backup: pruned %s archived binlog files before %s\n' "$pruned_binlogs" "$oldest" >&2
  fi
  window
  pitr_fields=",\"pitr\":{\"from\":${window_from:-null},\"to\":${window_to:-null},\"files\":$window_files,\"pruned\":$pruned_binlogs}"
fi

# From the data directory: empty it, when asked, only now that the dump is verified and
# the temporary server has shut down cleanly, so a re-created instance starts from its
# backup and never from stale files. The directory itself (a mount point) stays.
source_fields=""
if [ -n "$MYSQL_DATADIR" ]; then
  [ "$stopped" = true ] || fail "$name was verified and kept, but the temporary server did not shut down cleanly ($stop_error): the data directory $MYSQL_DATADIR was left as it is"
  wiped=false
  if [ "$WIPE_DATADIR" = true ]; then
    printf 'backup: emptying the data directory %s\n' "$MYSQL_DATADIR" >&2
    rm_out=$(rm -rf -- "$MYSQL_DATADIR"/* "$MYSQL_DATADIR"/.[!.]* "$MYSQL_DATADIR"/..?* 2>&1) ||
      fail "$name was verified and kept, but the data directory $MYSQL_DATADIR could not be emptied: $(last_error "$rm_out")"
    [ -z "$(ls -A "$MYSQL_DATADIR")" ] || fail "$name was verified and kept, but the data directory $MYSQL_DATADIR could not be emptied: $(ls -A "$MYSQL_DATADIR" | head -n 5 | tr '\n' ' ')is still there"
    wiped=true
  fi
  source_fields=",\"source\":\"datadir\",\"wiped\":$wiped"
fi

report "{\"op\":\"backup\",\"ok\":true,\"backup\":\"$name\",\"size\":$size,\"sha256\":\"$sha256\",\"verified\":true,\"database\":\"$MYSQL_DATABASE\",\"created\":\"$created\",\"retained\":$kept,\"pruned\":[$pruned],\"server_version\":\"$(json_escape "$server_version")\"$binlog_fields$pitr_fields$source_fields}"
"#
);

/// The restore Job's script. Reads `MYSQL_HOST`, `MYSQL_PORT`, `MYSQL_USER`, `CLIENT_PASSWORD`,
/// `CLIENT_DIR`, `MYSQL_DATABASE`, `BACKUP_DIR`, `BACKUP_NAME` (and optionally `TERMINATION_LOG`).
///
/// Chooses `BACKUP_NAME`, or the newest backup that passes verification (newer ones that
/// fail are skipped and listed); verifies it before touching the database (a sidecar that
/// says verified, the sha256 it records, decompression, mysqldump's completion marker) and
/// refuses otherwise; then loads it with `gzip -dc | mysql --database="$MYSQL_DATABASE"`.
/// Prints `{"op":"restore","ok":true,"backup":"<stamp>.sql.gz","size":N,"sha256":"...",
/// "database":"...","skipped":["..."]}`.
pub const RESTORE_SCRIPT: &str = concat!(
    "op=restore\n",
    common!(),
    connection!(),
    binlogs!(),
    r#"
client=$(command -v mysql || command -v mariadb) || fail "the mysql client is not installed in this image"

sql() {
  "$client" --defaults-extra-file="$client_cnf" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP --user="$MYSQL_USER" \
    --batch --skip-column-names --connect-timeout=10 -e "$1"
}

# Whether a backup may be loaded. Sets `why` when not; `size` and `sha256` when it may.
verify_backup() {
  dump="$BACKUP_DIR/$1.sql.gz"
  sidecar="$BACKUP_DIR/$1.json"
  if [ ! -f "$dump" ]; then
    why="$1.sql.gz does not exist in $BACKUP_DIR"
    return 1
  fi
  if [ ! -f "$sidecar" ]; then
    why="it has no catalogue entry $1.json, so it was never verified (a partial or interrupted backup)"
    return 1
  fi
  if ! grep -q '"verified":true' "$sidecar"; then
    why="its catalogue entry $1.json does not say it was verified"
    return 1
  fi
  want=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$sidecar")
  sha256=$(sha256sum <"$dump" | cut -d ' ' -f 1)
  if [ -z "$want" ] || [ "$sha256" != "$want" ]; then
    why="its sha256 $sha256 differs from the one recorded when it was made (${want:-none}): the file changed since"
    return 1
  fi
  check_content "$dump" || return 1
  size=$(wc -c <"$dump" | tr -d ' ')
}

TARGET_TIME=${TARGET_TIME:-}
TARGET_POSITION=${TARGET_POSITION:-}
to_point=false
[ -z "$TARGET_TIME$TARGET_POSITION" ] || to_point=true
if [ "$to_point" = true ]; then
  [ -z "${BACKUP_NAME:-}" ] || fail "BACKUP_NAME and a point in time exclude each other: a restore to a point picks its backup itself"
  [ -z "$TARGET_TIME" ] || [ -z "$TARGET_POSITION" ] || fail "TARGET_TIME and TARGET_POSITION exclude each other"
  if [ -n "$TARGET_TIME" ]; then
    case "$TARGET_TIME" in
      [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\ [0-9][0-9]:[0-9][0-9]:[0-9][0-9]) ;;
      *) fail "TARGET_TIME must be a UTC time as YYYY-MM-DD HH:MM:SS, not '$TARGET_TIME'" ;;
    esac
    TARGET_EPOCH=${TARGET_EPOCH:-}
    case "$TARGET_EPOCH" in
      '' | *[!0-9]*) fail "TARGET_EPOCH must be the seconds since the epoch of TARGET_TIME, not '$TARGET_EPOCH'" ;;
    esac
    target=$(utc "$TARGET_EPOCH")
    [ "$TARGET_EPOCH" -le "$(date +%s)" ] || fail "refusing to restore to $target: it is in the future; the database was not touched"
  else
    target_file=${TARGET_POSITION%:*}
    target_pos=${TARGET_POSITION##*:}
    case "$target_file" in
      *[!A-Za-z0-9_.-]* | .* | *.*[!0-9]*) fail "TARGET_POSITION must be FILE:POS, e.g. binlog.000042:1234, not '$TARGET_POSITION'" ;;
      *.[0-9]*) ;;
      *) fail "TARGET_POSITION must be FILE:POS, e.g. binlog.000042:1234, not '$TARGET_POSITION'" ;;
    esac
    case "$target_pos" in
      '' | *[!0-9]*) fail "TARGET_POSITION must be FILE:POS, e.g. binlog.000042:1234, not '$TARGET_POSITION'" ;;
    esac
    target=$TARGET_POSITION
  fi
  # The official mysql images leave mysqlbinlog out (docker-library/mysql#847); the
  # mariadb images ship mariadb-binlog.
  binlog_tool=$(command -v mysqlbinlog || command -v mariadb-binlog) ||
    fail "refusing to restore to $target: neither mysqlbinlog nor mariadb-binlog is installed in this image (the official mysql images leave mysqlbinlog out); the database was not touched"
  ARCHIVE_WAIT=${ARCHIVE_WAIT:-120}
  case "$ARCHIVE_WAIT" in
    '' | *[!0-9]*) fail "ARCHIVE_WAIT must be a number of seconds, not '$ARCHIVE_WAIT'" ;;
  esac
  [ -d "$archive" ] ||
    fail "refusing to restore to $target: the backup volume has no binlog archive: is spec.pitr on, and has its binlog-archive container run? The database was not touched"

  # Whether the archive reaches the target: a file closed at or after the time, or the
  # target's file itself (closed, since it was archived).
  covers() {
    if [ -n "$TARGET_TIME" ]; then
      last_until=$(archived | tail -n 1 | cut -d ' ' -f 4)
      [ -n "$last_until" ] && [ "$last_until" -ge "$TARGET_EPOCH" ]
    else
      [ -f "$archive/$target_file.json" ]
    fi
  }
  current=$(cat "$archive/history" 2>/dev/null || true)
  if [ -n "$TARGET_POSITION" ]; then
    first_archived=$(archived | head -n 1)
    if [ -n "$first_archived" ] && [ "$(binlog_seq "$target_file")" -lt "${first_archived%% *}" ]; then
      window
      fail "refusing to restore to $target: $target_file is not in the archive, which starts at $(printf '%s' "$first_archived" | cut -d ' ' -f 2) (restorable from $(utc "${window_from:-0}") to $(utc "${window_to:-0}")); the database was not touched"
    fi
  fi
  if ! covers; then
    # The target is in the file the server is writing: close it and let the sidecar copy it.
    printf 'restore: the archive ends before %s: closing the current binlog file and waiting up to %ss for the sidecar to archive it\n' "$target" "$ARCHIVE_WAIT" >&2
    flushed=$(sql 'FLUSH BINARY LOGS' 2>&1) || fail "cannot close the current binlog file (FLUSH BINARY LOGS): $(last_error "$flushed"); the database was not touched"
    give_up=$(($(date +%s) + ARCHIVE_WAIT))
    while ! covers && [ "$(date +%s)" -lt "$give_up" ]; do
      sleep 1
    done
  fi
  window
  if [ -n "$window_from" ] && [ -n "$window_to" ]; then
    available="restorable from $(utc "$window_from") to $(utc "$window_to")"
  elif [ -n "$window_to" ]; then
    available="no backup records a binlog position yet (the archive reaches $(utc "$window_to")): take a backup first"
  else
    available="nothing is archived yet"
  fi
  covers || fail "refusing to restore to $target: it is after the last archived event ($available); the database was not touched"
fi

# Whether backup $1 can start the replay to the target: of the archive's history (the same
# names in another one are other files), its snapshot before the target. Sets start_file
# and start_pos.
starts_replay() {
  f="$BACKUP_DIR/$1.json"
  [ -f "$f" ] || return 1
  start_file=$(json_field "$f" file)
  start_pos=$(json_field "$f" pos)
  at=$(json_field "$f" at)
  [ -n "$start_file" ] && [ -n "$start_pos" ] && [ -n "$at" ] || return 1
  [ "$(json_field "$f" history)" = "$current" ] || return 1
  if [ -n "$TARGET_TIME" ]; then
    [ "$at" -lt "$TARGET_EPOCH" ]
  else
    start_seq=$(binlog_seq "$start_file")
    end_seq=$(binlog_seq "$target_file")
    [ "$start_seq" -lt "$end_seq" ] || { [ "$start_seq" = "$end_seq" ] && [ "$start_pos" -le "$target_pos" ]; }
  fi
}

skipped=""
if [ -n "${BACKUP_NAME:-}" ]; then
  stamp=${BACKUP_NAME%.sql.gz}
  case "$stamp" in
    [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z) ;;
    *) fail "refusing to restore '$BACKUP_NAME': not a backup name (YYYYMMDDTHHMMSSZ.sql.gz)" ;;
  esac
  verify_backup "$stamp" || fail "refusing to restore $stamp.sql.gz: $why; the database was not touched"
else
  # The newest backup that passes verification (and, to a point, can start the replay);
  # newer ones that fail are skipped and listed.
  stamp=""
  for s in $(stamps); do
    [ "$to_point" = false ] || starts_replay "$s" || continue
    if verify_backup "$s"; then
      stamp=$s
      break
    fi
    printf 'restore: skipping %s.sql.gz: %s\n' "$s" "$why" >&2
    skipped="$skipped${skipped:+,}\"$s.sql.gz\""
  done
  if [ -z "$stamp" ]; then
    [ "$to_point" = false ] ||
      fail "refusing to restore to $target: no verified backup of this binlog history with a position is older than it ($available); the database was not touched"
    fail "no verified backup in $BACKUP_DIR to restore; the database was not touched"
  fi
fi
if [ "$to_point" = true ]; then
  # The archived files from the backup's position to the one that reaches the target,
  # every one present and whole.
  start_seq=$(binlog_seq "$start_file")
  if [ -n "$TARGET_TIME" ]; then
    end_seq=$(archived | while read -r seq _ _ until; do
      if [ "$seq" -ge "$start_seq" ] && [ "$until" -ge "$TARGET_EPOCH" ]; then
        printf '%s' "$seq"
        break
      fi
    done)
    [ -n "$end_seq" ] || end_seq=$(($(archived | tail -n 1 | cut -d ' ' -f 1) + 1))
  else
    end_seq=$(binlog_seq "$target_file")
  fi
  set --
  seq=$start_seq
  closed_at=""
  while [ "$seq" -le "$end_seq" ]; do
    file=$(binlog_name "$start_file" "$seq")
    if [ ! -f "$archive/$file.json" ] || [ ! -f "$archive/$file" ]; then
      fail "refusing to restore to $target: the archive has a gap: $file is missing ($available, but not across the gap); the database was not touched"
    fi
    want=$(json_field "$archive/$file.json" sha256)
    got=$(sha256sum <"$archive/$file" | cut -d ' ' -f 1)
    [ "$want" = "$got" ] ||
      fail "refusing to restore to $target: the archived $file does not match the sha256 recorded when it was archived; the database was not touched"
    # One unbroken log: each file starts when the one before it was closed.
    first=$(json_field "$archive/$file.json" first)
    [ -z "$closed_at" ] || [ "$first" = "$closed_at" ] ||
      fail "refusing to restore to $target: $file does not continue the file before it (it starts at $(utc "$first"), that one was closed at $(utc "$closed_at")): the log was interrupted there; the database was not touched"
    closed_at=$(json_field "$archive/$file.json" until)
    set -- "$@" "$archive/$file"
    last_file=$file
    seq=$((seq + 1))
  done
  binlog_count=$#
fi
name="$stamp.sql.gz"

if [ "$to_point" = true ]; then
  # The options go before the files ("$@"), last one first.
  "$binlog_tool" --help 2>/dev/null | grep -q -e '--skip-gtids' && gtids=true || gtids=false
  if [ -n "$TARGET_TIME" ]; then
    set -- --stop-datetime="$TARGET_TIME" "$@"
  else
    set -- --stop-position="$target_pos" "$@"
  fi
  # MySQL: the server has these GTIDs already and would skip every transaction.
  [ "$gtids" = false ] || set -- --skip-gtids "$@"
  set -- --database="$MYSQL_DATABASE" --start-position="$start_pos" "$@"
  # The tool must read every file before anything is dropped (a tool of another version,
  # an encrypted file). Statements on accounts run with this database selected would be
  # replayed too: said, so that a changed password is no surprise.
  check_err="$CLIENT_DIR/replay-check.err"
  accounts=$(
    {
      TZ=UTC0 "$binlog_tool" "$@" 2>"$check_err" || echo "@failed" >>"$check_err"
    } | grep -c -i -E '^(CREATE|ALTER|DROP|RENAME) USER|^GRANT |^REVOKE |^SET PASSWORD' || true
  )
  if grep -q '^@failed' "$check_err" 2>/dev/null; then
    why=$(grep -v '^@failed' "$check_err" | grep -v '^[[:space:]]*$' | tail -n 1)
    rm -f "$check_err"
    fail "refusing to restore to $target: $binlog_tool cannot read the archived files: ${why:-it failed}; the database was not touched"
  fi
  rm -f "$check_err"
  [ "${accounts:-0}" = 0 ] ||
    printf 'restore: the log up to %s holds %s statement(s) on accounts run in database %s: they are replayed too\n' "$target" "$accounts" "$MYSQL_DATABASE" >&2

  # The replay re-creates what the dump and the log made; anything made after the backup
  # would collide with it, so the database starts empty, with its character set.
  printf 'restore: emptying database %s before loading %s\n' "$MYSQL_DATABASE" "$name" >&2
  charset=$(sql "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$MYSQL_DATABASE'" 2>&1) ||
    fail "cannot read the character set of database $MYSQL_DATABASE: $(last_error "$charset"); the database was not touched"
  [ -n "$charset" ] || charset="utf8mb4 utf8mb4_general_ci"
  emptied=$(sql "DROP DATABASE IF EXISTS \`$MYSQL_DATABASE\`; CREATE DATABASE \`$MYSQL_DATABASE\` CHARACTER SET ${charset% *} COLLATE ${charset#* }" 2>&1) ||
    fail "cannot empty database $MYSQL_DATABASE before the restore: $(last_error "$emptied")"
fi

printf 'restore: loading %s (%s bytes, verified) into database %s on %s:%s\n' "$name" "$size" "$MYSQL_DATABASE" "$MYSQL_HOST" "$MYSQL_PORT" >&2
out=$(
  {
    {
      rc=0
      gzip -dc "$BACKUP_DIR/$name" 2>&3 || rc=$?
      echo "@status gzip $rc" >&3
    } | {
      rc=0
      "$client" --defaults-extra-file="$client_cnf" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP --user="$MYSQL_USER" \
        --default-character-set=utf8mb4 --database="$MYSQL_DATABASE" >&2 2>&3 || rc=$?
      echo "@status load $rc" >&3
    }
  } 3>&1
)
errors=$(printf '%s\n' "$out" | grep -v '^@status ' || true)
[ -z "$errors" ] || printf '%s\n' "$errors" >&2
gzip_rc=$(printf '%s\n' "$out" | sed -n 's/^@status gzip //p')
load_rc=$(printf '%s\n' "$out" | sed -n 's/^@status load //p')
[ "$load_rc" = 0 ] || fail "mysql exited with status ${load_rc:-unknown} loading $name: $(last_error "$out")"
[ "$gzip_rc" = 0 ] || fail "gzip could not read $name (status ${gzip_rc:-unknown}): $(last_error "$out")"

printf 'restore: %s loaded into %s\n' "$name" "$MYSQL_DATABASE" >&2

point_fields=""
if [ "$to_point" = true ]; then
  # Row events of the database's tables, and statements run with it as the default
  # database, up to the target. TZ=UTC0: the tools read --stop-datetime as local time.
  printf 'restore: replaying %s archived binlog files (%s:%s to %s) up to %s\n' "$binlog_count" "$start_file" "$start_pos" "$last_file" "$target" >&2
  out=$(
    {
      {
        rc=0
        TZ=UTC0 "$binlog_tool" "$@" 2>&3 || rc=$?
        echo "@status replay $rc" >&3
      } | {
        rc=0
        "$client" --defaults-extra-file="$client_cnf" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP --user="$MYSQL_USER" \
          --default-character-set=utf8mb4 --binary-mode --database="$MYSQL_DATABASE" >&2 2>&3 || rc=$?
        echo "@status apply $rc" >&3
      }
    } 3>&1
  )
  errors=$(printf '%s\n' "$out" | grep -v '^@status ' || true)
  [ -z "$errors" ] || printf '%s\n' "$errors" >&2
  replay_rc=$(printf '%s\n' "$out" | sed -n 's/^@status replay //p')
  apply_rc=$(printf '%s\n' "$out" | sed -n 's/^@status apply //p')
  # The client first: when it stops, the tool dies of SIGPIPE, which is not the cause.
  [ "$apply_rc" = 0 ] || fail "mysql exited with status ${apply_rc:-unknown} replaying the archive after loading $name: $(last_error "$out"); the database holds $name and part of the log"
  [ "$replay_rc" = 0 ] || fail "$binlog_tool exited with status ${replay_rc:-unknown} reading the archive after loading $name: $(last_error "$out"); the database holds $name and part of the log"
  printf 'restore: replayed up to %s\n' "$target" >&2
  point_fields=",\"to\":\"$target\",\"binlogs\":$binlog_count,\"from_position\":\"$start_file:$start_pos\",\"last_binlog\":\"$last_file\""
fi

report "{\"op\":\"restore\",\"ok\":true,\"backup\":\"$name\",\"size\":$size,\"sha256\":\"$sha256\",\"database\":\"$MYSQL_DATABASE\",\"skipped\":[$skipped]$point_fields}"
"#
);

/// The binary-log archive: the `binlog-archive` container of the server's pod with
/// `spec.pitr`. Reads `MYSQL_HOST` (127.0.0.1: the pod's own server), `MYSQL_PORT`,
/// `MYSQL_USER`, `CLIENT_PASSWORD`, `CLIENT_DIR`, `MYSQL_DATADIR` (the data volume, read
/// only), `BACKUP_DIR` and `FLUSH_SECONDS`.
///
/// Runs until stopped. Every `FLUSH_SECONDS` it closes the server's current binlog file
/// (`FLUSH BINARY LOGS`), so at most that much of the log is only on the data volume.
/// Whenever the server's binlog index changes (checked each second, without a query), it
/// lists the files (`SHOW BINARY LOGS`: every one but the last is closed, in MySQL and
/// MariaDB alike) and copies each closed file not archived yet from the data directory
/// into `$BACKUP_DIR/binlog/`: into `.<name>.partial`, compared by sha256 with the
/// original, synced, renamed, and only then recorded in `<name>.json` with its first event
/// time and the time it was closed (the next file's first event), read from the files'
/// headers with `od`, so the image needs no `mysqlbinlog`. A copy killed half-way leaves a
/// `.partial` (removed at the next start) or a file without its entry (copied again):
/// nothing a restore would use. It never deletes archived files (the backups' retention
/// does) and never copies one before `binlog/horizon`. Each archived file is one line on
/// stdout: `{"op":"archive","ok":true,"binlog":"binlog.000042","size":N,"first":EPOCH,
/// "until":EPOCH}`; the password never reaches an argument or the environment of a tool.
pub const ARCHIVE_SCRIPT: &str = concat!(
    "op=archive\n",
    reporting!(),
    connection!(),
    r#"
[ -n "${BACKUP_DIR:-}" ] || fail "BACKUP_DIR is not set"
[ -d "$BACKUP_DIR" ] || fail "the backup directory $BACKUP_DIR does not exist"
[ -w "$BACKUP_DIR" ] || fail "the backup directory $BACKUP_DIR is not writable by uid $(id -u)"
[ -n "${MYSQL_DATADIR:-}" ] || fail "MYSQL_DATADIR is not set"
[ -d "$MYSQL_DATADIR" ] || fail "the data directory $MYSQL_DATADIR does not exist (is the data volume mounted?)"
FLUSH_SECONDS=${FLUSH_SECONDS:-300}
case "$FLUSH_SECONDS" in
  '' | *[!0-9]*) fail "FLUSH_SECONDS must be a number of seconds, not '$FLUSH_SECONDS'" ;;
esac
[ "$FLUSH_SECONDS" -ge 1 ] || fail "FLUSH_SECONDS must be at least 1"
client=$(command -v mysql || command -v mariadb) || fail "the mysql client is not installed in this image"
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is not installed in this image"
command -v od >/dev/null 2>&1 || fail "od is not installed in this image"
"#,
    option_file!(),
    binlogs!(),
    r#"
mkdir -p "$archive" || fail "cannot make the archive directory $archive"
# A copy that was killed half-way (only this container writes here).
rm -f "$archive"/.*.partial 2>/dev/null || true

# SIGTERM (the pod is stopping) ends the loop after the current step; the pauses are
# waited for in the background so that the signal ends them at once.
stopping=false
trap 'stopping=true' TERM INT
pause() {
  sleep "$1" &
  wait "$!" || true
}

say() {
  printf 'archive: %s\n' "$1" >&2
}

sql() {
  "$client" --defaults-extra-file="$client_cnf" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP --user="$MYSQL_USER" \
    --batch --skip-column-names --connect-timeout=5 -e "$1"
}

# The little-endian 4-byte number at offset $2 of file $1, byte by byte (any host order).
le32() {
  bytes=$(od -An -tu1 -j"$2" -N4 "$1") || return 1
  set -- $bytes
  [ "$#" = 4 ] || return 1
  printf '%s' $(($1 + $2 * 256 + $3 * 65536 + $4 * 16777216))
}

# The time of a binlog file's first event: the timestamp that opens the event header after
# the 4-byte magic number.
event_time() {
  le32 "$1" 4
}

# Whether a binlog file can be read as it is: the plain magic number (MySQL's encrypted
# files have another) and no START_ENCRYPTION event (type 164, MariaDB) after the header
# event, whose length is at offset 13.
plain_binlog() {
  [ "$(od -An -tx1 -N4 "$1" | tr -d ' \n')" = fe62696e ] || return 1
  length=$(le32 "$1" 13) || return 1
  [ "$(od -An -tu1 -j$((4 + length + 4)) -N1 "$1" | tr -d ' \n')" != 164 ]
}

# Copy closed file $1 (closed by $2) into the archive. Non-zero when it must be tried again.
archive_one() {
  src="$MYSQL_DATADIR/$1"
  partial="$archive/.$1.partial"
  if [ ! -f "$src" ]; then
    say "$1 is gone from $MYSQL_DATADIR before it was archived: the archive has a gap there; a restore across it is refused, so take a full backup"
    return 0
  fi
  if ! copied=$(cp "$src" "$partial" 2>&1); then
    rm -f "$partial"
    say "cannot copy $1 into $archive: $(printf '%s\n' "$copied" | tail -n 1)"
    return 1
  fi
  sync "$partial" 2>/dev/null || true
  want=$(sha256sum <"$src" | cut -d ' ' -f 1)
  got=$(sha256sum <"$partial" | cut -d ' ' -f 1)
  if [ "$want" != "$got" ]; then
    rm -f "$partial"
    say "the copy of $1 differs from the original (sha256 $got, not $want); copying it again"
    return 1
  fi
  size=$(wc -c <"$partial" | tr -d ' ')
  if ! plain_binlog "$partial"; then
    rm -f "$partial"
    say "$1 is encrypted or not a binlog file: the archive copies plain binlogs only (binlog_encryption and encrypt_binlog must be off)"
    return 1
  fi
  first=$(event_time "$partial" || true)
  until=$(event_time "$MYSQL_DATADIR/$2" || true)
  case "$first$until" in
    '' | *[!0-9]*)
      rm -f "$partial"
      say "cannot read the event times of $1 and $2"
      return 1
      ;;
  esac
  mv -f "$partial" "$archive/$1" || return 1
  printf '{"name":"%s","size":%s,"sha256":"%s","first":%s,"until":%s}\n' "$1" "$size" "$got" "$first" "$until" >"$archive/.$1.json.partial" || return 1
  sync "$archive/.$1.json.partial" 2>/dev/null || true
  mv -f "$archive/.$1.json.partial" "$archive/$1.json" || return 1
  printf '{"op":"archive","ok":true,"binlog":"%s","size":%s,"first":%s,"until":%s}\n' "$1" "$size" "$first" "$until"
}

# The archive of another history goes aside whole, as binlog.<its history>, and a new
# one starts (the backups of the old one keep it until retention removes them).
retire() {
  old=$(cat "$archive/history" 2>/dev/null || echo unknown)
  say "$1: the server's binlog files are a new history; the archive of history $old moves to binlog.$old"
  mv "$archive" "$BACKUP_DIR/binlog.$old" || return 1
  mkdir -p "$archive" && history_id >/dev/null
}

# Copy every closed file not archived yet. Non-zero when one must be tried again.
archive_closed() {
  logs=$(sql 'SHOW BINARY LOGS' 2>&1) || {
    say "cannot list the binary logs: $(last_line "$logs")"
    return 1
  }
  names=$(printf '%s\n' "$logs" | cut -f 1 | grep -E '^[A-Za-z0-9_-]+\.[0-9]+$' || true)
  open=$(printf '%s\n' "$names" | tail -n 1)
  if [ -z "$open" ]; then
    say "the server lists no binary log: is it started with --log-bin?"
    return 0
  fi
  # A new history: the server numbers from 1 again (a new data directory, a reset), so
  # its newest file is older than the archive's, or a name both have is another file.
  newest=$(archived | tail -n 1)
  if [ -n "$newest" ]; then
    if [ "$(binlog_seq "$open")" -lt "${newest%% *}" ]; then
      retire "the server writes $open, the archive has $(printf '%s' "$newest" | cut -d ' ' -f 2)" || return 1
    else
      for name in $names; do
        if [ -f "$archive/$name.json" ] && [ -f "$MYSQL_DATADIR/$name" ]; then
          if [ "$(event_time "$MYSQL_DATADIR/$name" || true)" != "$(json_field "$archive/$name.json" first)" ]; then
            retire "the server's $name is not the archived one" || return 1
          fi
          break
        fi
      done
    fi
  fi
  history_id >/dev/null || return 1
  # The first start of an archive: the files before the one open now can start no restore,
  # unless a backup of this history already needs them.
  if [ ! -s "$archive/horizon" ]; then
    start=$open
    current=$(cat "$archive/history")
    for entry in "$BACKUP_DIR"/*.json; do
      [ -f "$entry" ] && [ "$(json_field "$entry" history)" = "$current" ] || continue
      needed=$(json_field "$entry" file)
      [ -z "$needed" ] || [ "$(binlog_seq "$needed")" -ge "$(binlog_seq "$start")" ] || start=$needed
    done
    printf '%s\n' "$start" >"$archive/.horizon.partial" && mv -f "$archive/.horizon.partial" "$archive/horizon" || return 1
  fi
  from=$(binlog_seq "$(cat "$archive/horizon")")
  previous=""
  for name in $names; do
    [ "$stopping" = false ] || return 0
    if [ -n "$previous" ] && [ ! -f "$archive/$previous.json" ] && [ "$(binlog_seq "$previous")" -ge "$from" ]; then
      archive_one "$previous" "$name" || return 1
    fi
    previous=$name
  done
}

last_line() {
  printf '%s\n' "$1" | grep -v '^[[:space:]]*$' | tail -n 1
}

# The binlog index's size, modification time (to the nanosecond where the filesystem has
# it) and inode: a rotation changes one of them.
index_state() {
  stat -c '%s %y %i' "$MYSQL_DATADIR"/*.index 2>/dev/null | tr '\n' ' '
}

say "archiving closed binary logs of $MYSQL_HOST:$MYSQL_PORT from $MYSQL_DATADIR into $archive every ${FLUSH_SECONDS}s"
until [ "$stopping" = true ] || sql 'SELECT 1' >/dev/null 2>&1; do
  pause 2
done
next_flush=0
after_flush=""
seen=""
retry=false
# A look without a change of the index too, now and then: a change could hide in a second.
next_look=0
while [ "$stopping" = false ]; do
  now=$(date +%s)
  if [ "$now" -ge "$next_flush" ]; then
    # Nothing written since the last close (the same open file, the same size): nothing at
    # risk, and no empty file to keep.
    open_now=$(sql 'SHOW BINARY LOGS' 2>/dev/null | tail -n 1 | cut -f 1,2 || true)
    if [ -n "$open_now" ] && [ "$open_now" = "$after_flush" ]; then
      next_flush=$((now + FLUSH_SECONDS))
    elif flushed=$(sql 'FLUSH BINARY LOGS' 2>&1); then
      next_flush=$((now + FLUSH_SECONDS))
      after_flush=$(sql 'SHOW BINARY LOGS' 2>/dev/null | tail -n 1 | cut -f 1,2 || true)
    else
      say "cannot close the current binlog file (FLUSH BINARY LOGS): $(last_line "$flushed")"
      next_flush=$((now + 5))
    fi
  fi
  state=$(index_state)
  if [ "$retry" = true ] || [ "$state" != "$seen" ] || [ -z "$state" ] || [ "$now" -ge "$next_look" ]; then
    next_look=$((now + 10))
    if archive_closed; then
      retry=false
      seen=$state
    else
      retry=true
      pause 4
    fi
  fi
  pause 1
done
say "stopped"
"#
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_an_argument() {
        for script in [BACKUP_SCRIPT, RESTORE_SCRIPT, ARCHIVE_SCRIPT] {
            assert!(!script.contains("-p\""), "{script}");
            assert!(!script.contains("--password"), "{script}");
            assert!(
                !script.contains("MYSQL_PWD"),
                "read by the tools, never by the script"
            );
        }
    }

    #[test]
    fn every_tool_reads_the_option_file_first() {
        for script in [BACKUP_SCRIPT, RESTORE_SCRIPT, ARCHIVE_SCRIPT] {
            let mut calls = 0;
            for tool in [r#""$client" "#, r#""$dump_tool" "#, r#""$admin" "#] {
                for (at, _) in script.match_indices(tool) {
                    let rest = &script[at + tool.len()..];
                    if rest.starts_with("--help") {
                        continue;
                    }
                    calls += 1;
                    assert!(
                        rest.starts_with(r#"--defaults-extra-file="$client_cnf" "#),
                        "{tool}{}",
                        &rest[..rest.len().min(80)]
                    );
                }
            }
            assert!(calls > 0);
            assert!(script.contains("unset CLIENT_PASSWORD"));
            assert!(script.contains("umask 077"));
        }
    }

    #[test]
    fn the_dump_is_of_one_database_with_options_mysql_8_and_mariadb_share() {
        for option in [
            "--single-transaction",
            "--routines",
            "--triggers",
            "--no-tablespaces",
            "-- \"$MYSQL_DATABASE\"",
        ] {
            assert!(BACKUP_SCRIPT.contains(option), "{option}");
        }
        assert!(!BACKUP_SCRIPT.contains("--databases"));
        assert!(!BACKUP_SCRIPT.contains("--all-databases"));
        assert!(!BACKUP_SCRIPT.contains("--column-statistics"));
        // Only when the tool says it knows the option (MySQL's mysqldump, not MariaDB's).
        assert!(BACKUP_SCRIPT.contains("grep -q -e '--set-gtid-purged'"));
    }

    #[test]
    fn the_restore_loads_the_instance_database_only() {
        assert!(RESTORE_SCRIPT.contains("--database=\"$MYSQL_DATABASE\""));
        assert!(!RESTORE_SCRIPT.contains("mysql.user"));
    }

    #[test]
    fn every_variable_the_scripts_read_is_listed() {
        for (script, listed) in [
            (BACKUP_SCRIPT, BACKUP_ENV),
            (RESTORE_SCRIPT, RESTORE_ENV),
            (ARCHIVE_SCRIPT, ARCHIVE_ENV),
        ] {
            for var in listed {
                assert!(script.contains(&format!("${{{var}")), "{var}");
            }
        }
    }

    #[test]
    fn the_delete_backup_runs_a_private_server_with_no_password_and_no_option_files() {
        for expected in [
            // `--no-defaults` must come first; no port, no grant tables, socket and pid file
            // in the run's temp dir.
            r#""$server" --no-defaults --datadir="$MYSQL_DATADIR" "$@" --skip-networking --skip-grant-tables"#,
            r#"--socket="$tmp/mysqld.sock" --pid-file="$tmp/mysqld.pid""#,
            "command -v mariadbd || command -v mysqld",
            r#"set -- --user="$run_as""#,
            r#"set -- --protocol=SOCKET --socket="$tmp/mysqld.sock""#,
            "trap cleanup EXIT",
            r#"kill -TERM "$child""#,
        ] {
            assert!(BACKUP_SCRIPT.contains(expected), "{expected}");
        }
        // One dump command for both sources: the same options, the same verification.
        assert_eq!(
            BACKUP_SCRIPT
                .matches(r#""$dump_tool" --defaults-extra-file="$client_cnf" "$@""#)
                .count(),
            1
        );
        assert!(!RESTORE_SCRIPT.contains("MYSQL_DATADIR"));
        assert!(!RESTORE_SCRIPT.contains("WIPE_DATADIR"));
    }

    #[test]
    fn the_data_directory_is_emptied_only_after_a_verified_dump_and_a_clean_shutdown() {
        let at = |needle: &str| {
            assert_eq!(BACKUP_SCRIPT.matches(needle).count(), 1, "{needle}");
            BACKUP_SCRIPT.find(needle).expect(needle)
        };
        let wipe = at(r#"rm -rf -- "$MYSQL_DATADIR"/*"#);
        for before in [
            r#"if [ -n "$MYSQL_DATADIR" ] && ! stop_server; then"#,
            r#"[ "$dump_rc" = 0 ] || fail"#,
            r#"check_content "$partial" || fail"#,
            r#"mv -f "$sidecar_partial" "$BACKUP_DIR/$stamp.json" || {"#,
            r#"[ "$stopped" = true ] || fail"#,
            r#"if [ "$WIPE_DATADIR" = true ]; then"#,
        ] {
            assert!(at(before) < wipe, "{before} comes before the wipe");
        }
        assert!(wipe < at("wiped=true"));
        assert!(at("wiped=true") < at(r#"report "{\"op\":\"backup\",\"ok\":true"#));
    }

    #[test]
    fn the_scripts_parse_as_posix_sh() {
        for script in [BACKUP_SCRIPT, RESTORE_SCRIPT, ARCHIVE_SCRIPT] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", script])
                .output()
                .expect("sh runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // The official mysql image's sh is bash.
            if let Ok(out) = std::process::Command::new("bash")
                .args(["--posix", "-n", "-c", script])
                .output()
            {
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}
