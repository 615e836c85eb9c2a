# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kubectl_mysql_global_optspecs
    string join \n n/namespace= context= kubeconfig= h/help V/version
end

function __fish_kubectl_mysql_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kubectl_mysql_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kubectl_mysql_using_subcommand
    set -l cmd (__fish_kubectl_mysql_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "create" -d 'Create an instance: the MySQL object and everything it needs'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "delete" -d 'Back up, then delete an instance (the backup runs behind a finalizer)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "backup" -d 'Back up an instance now: a verified, timestamped dump on its backup volume'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "restore" -d 'Load the latest verified backup, or a named one, into an instance'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "status" -d 'Show instances: a table, or one instance in detail'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "run-operator" -d 'Run the operator: the watch loop that converges every instance'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "install" -d 'Print the manifests that install the CRD, RBAC and the operator (-n: its namespace, default kubectl-mysql-system)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "completions" -d 'Print a completion script: bash, zsh or fish'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -s f -l filename -d 'A manifest of kind MySQL to create ("-" reads stdin), e.g. the seed\'s deploy/cr.yaml' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l database -d 'Database to create in the server' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l storage-size -d 'Size of the data volume, e.g. 1Gi' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l image -d 'MySQL server image [default: mysql:8.4]' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l storage-class -d 'StorageClass for dynamic provisioning (default: a hostPath volume)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l backup-schedule -d 'Back up on this CronJob schedule, e.g. "0 3 * * *" or @daily (see the CRD\'s spec.backup_schedule)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l backup-timezone -d 'IANA time zone of --backup-schedule [default: Etc/UTC]' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l pitr-flush-seconds -d 'With --pitr: seconds between closes of the current binlog file, 10 to 3600 [default: 300]' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l password-secret -d 'Use the password in this existing Secret (key "password")' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l dry-run -d 'Only print what would be created: "client" touches nothing and needs no cluster' -r -f -a "none\t''
client\t''
server\t''"
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -s o -l output -d 'Output format of the created objects' -r -f -a "yaml\t''
json\t''
name\t''"
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l timeout -d 'How long --wait waits, e.g. 90s or 10m' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l pitr -d 'Archive the binary log onto the backup volume, for restores to a point in time (restore --to)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l password-stdin -d 'Read the password from stdin and keep it in a Secret <name>-credentials'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l generate-password -d 'Generate a password into a Secret <name>-credentials (the default; each dry run makes a new one, so apply its output once: a server keeps the password it was initialised with)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -l wait -d 'Wait until the instance is Ready (reconciling by hand meanwhile, so no operator is needed)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand create" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -l timeout -d 'How long --wait waits' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -l skip-backup -d 'Delete without the backup (the data volume goes with it)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -l wait -d 'Wait until the instance is gone'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand delete" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -l timeout -d 'How long --wait waits, e.g. 90s or 30m' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -l max-concurrent-backups -d 'Backup Jobs that may run at once in the namespace; with all taken, --wait waits for one' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -l wait -d 'Wait until the backup is verified and recorded'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand backup" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -l backup -d 'The backup to load (default: the latest verified one)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -l to -d 'Restore to this time (RFC 3339, e.g. 2026-12-05T10:15:00Z): the newest backup before it, then the archived binary log up to it; events of that second are left out' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -l to-position -d 'Restore up to this binlog position, FILE:POS (the event at POS is left out)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -l timeout -d 'How long --wait waits, e.g. 90s or 1h' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -l wait -d 'Wait until the restore is done'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand restore" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -s o -l output -d 'Output format' -r -f -a "table\t'kubectl\'s table, or the detail view with NAME'
wide\t'More columns: image, storage class, last backup, message; full checksums'
yaml\t'Everything the text shows, and more, as YAML'
json\t'Everything the text shows, and more, as JSON'"
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -l timeout -d 'Longest wait for each API call, e.g. 10s, 500ms, 1m' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -s A -l all-namespaces -d 'List instances in every namespace'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand status" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l watch-namespace -d 'Watch only this namespace (repeatable); -n NS watches one the same way' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l log-format -d 'Log format: text for people, json for log collectors' -r -f -a "text\t''
json\t''"
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l metrics-addr -d 'Serve /healthz, /readyz and Prometheus /metrics on this address (off by default)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l leader-elect-namespace -d 'Namespace of the leader Lease (default: $POD_NAMESPACE, then the kubeconfig\'s)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l max-concurrent-reconciles -d 'Reconciles in flight at once (never two of one instance)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l max-concurrent-backups -d 'Backup Jobs running at once, delete-backups and on-demand backups alike; the rest wait in turn (per namespace with --watch-namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -s A -l all-namespaces -d 'Watch every namespace (the default unless -n names one; `-n all` says the same)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -l leader-elect -d 'Reconcile only while holding the Lease "kubectl-mysql-operator", so replicas take turns'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand run-operator" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -l image -d 'The operator\'s image' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -l watch-namespace -d 'Watch only this namespace (repeatable; it must exist): Roles grant the operator what it does there, and a ClusterRole only volumes and a read of the CRD. Default: every namespace' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -s o -l output -d 'Output format' -r -f -a "yaml\t''
json\t''
name\t''"
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -l write-deploy -d 'Write the default manifests into DIR as deploy/ holds them (for maintainers)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand install" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand completions" -s n -l namespace -d 'Namespace of the instance (default: the kubeconfig context\'s namespace)' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand completions" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand completions" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand completions" -s h -l help -d 'Print help'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand completions" -s V -l version -d 'Print version'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "create" -d 'Create an instance: the MySQL object and everything it needs'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "delete" -d 'Back up, then delete an instance (the backup runs behind a finalizer)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "backup" -d 'Back up an instance now: a verified, timestamped dump on its backup volume'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "restore" -d 'Load the latest verified backup, or a named one, into an instance'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "status" -d 'Show instances: a table, or one instance in detail'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "run-operator" -d 'Run the operator: the watch loop that converges every instance'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "install" -d 'Print the manifests that install the CRD, RBAC and the operator (-n: its namespace, default kubectl-mysql-system)'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "completions" -d 'Print a completion script: bash, zsh or fish'
complete -c kubectl-mysql -n "__fish_kubectl_mysql_using_subcommand help; and not __fish_seen_subcommand_from create delete backup restore status run-operator install completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
