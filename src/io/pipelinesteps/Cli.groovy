package io.pipelinesteps

/**
 * What every library step shares: run the `pipeline-steps` CLI with its arguments as environment
 * variables (resources/io/pipelinesteps/pipeline-steps.sh turns them back into argv, so no value is
 * ever part of a shell script), bind the credentials a stage needs, read the JSON documents the CLI
 * wrote, and turn an exit code into the build result exactly as the README's table says.
 */
class Cli implements Serializable {
    private static final long serialVersionUID = 1L

    /** README "Exit codes". */
    static final Map<Integer, String> MEANINGS = [
        0: 'OK', 1: 'the version is bad', 2: 'bad input, nothing was changed', 3: 'gate WARNING', 4: 'infrastructure error',
        5: 'manual approval required', 130: 'aborted',
    ]

    /** README "Exit codes": the build result each code becomes (anything not listed: FAILURE). */
    static final Map<Integer, String> RESULTS = [0: 'SUCCESS', 3: 'UNSTABLE', 5: 'UNSTABLE', 130: 'ABORTED']

    private final Object steps

    Cli(Object steps) {
        this.steps = steps
    }

    /** The build result an exit code stands for (README "Exit codes"); what `apply` makes the build. */
    static String result(int code) {
        return RESULTS[code] ?: 'FAILURE'
    }

    /** Most shards a performance test is split into (runTests `shards`, run_tests TEST_SHARDS). */
    static final int MAX_SHARDS = 64

    /**
     * What is wrong with a shard count (empty: nothing): a whole number 1..MAX_SHARDS, given as a number or its
     * digits; null or empty is 1. Only a performance test is split (`run-tests --shard` refuses the others).
     */
    static String shardsProblem(Object value, Object testStrategy) {
        String text = value == null ? '1' : "${value}".trim() ?: '1'
        if (!(text ==~ /[1-9][0-9]?/) || (text as int) > MAX_SHARDS) {
            return "must be a whole number from 1 to ${MAX_SHARDS}, got '${value}'"
        }
        if ((text as int) > 1 && testStrategy != 'performance') {
            return "only a performance test is split into shards (test strategy '${testStrategy ?: ''}')"
        }
        return ''
    }

    /** A shard count that shardsProblem accepted. */
    static int shards(Object value) {
        String text = value == null ? '' : "${value}".trim()
        return text ? text as int : 1
    }

    /**
     * The exit code standing for several shards' codes: the worst by the build result it becomes (130 ABORTED,
     * then 4 or any unexpected code, then 2, then 1), the first shard's on a tie; 0 when every one is 0.
     */
    static int worst(List<Integer> codes) {
        int found = 0
        for (Integer code : codes) {
            if (severity(code) > severity(found)) {
                found = code
            }
        }
        return found
    }

    /** `pipeline-steps ARGS` in the current workspace; returns its exit code (never throws for one). */
    int run(String label, List args, List<String> extraEnv = []) {
        List<String> vars = ["PS_ARGC=${args.size()}"]
        args.eachWithIndex { Object arg, int i -> vars << "PS_ARG_${i + 1}=${arg}" }
        String script = steps.libraryResource('io/pipelinesteps/pipeline-steps.sh')
        int code = 0
        steps.withEnv(vars + extraEnv) {
            code = steps.sh(label: label, returnStatus: true, script: script) as int
        }
        return code
    }

    /** `pipeline-steps ARGS` that must succeed; returns what it printed (a failure fails the build). */
    String output(String label, List args) {
        List<String> vars = ["PS_ARGC=${args.size()}"]
        args.eachWithIndex { Object arg, int i -> vars << "PS_ARG_${i + 1}=${arg}" }
        String script = steps.libraryResource('io/pipelinesteps/pipeline-steps.sh')
        String out = ''
        steps.withEnv(vars) {
            out = steps.sh(label: label, returnStdout: true, script: script)
        }
        return out
    }

    /** Flags for the context every command reads; empty values are left out. */
    static List contextFlags(Map args) {
        Map<String, Object> flags = [
            '--project': args.project, '--stage': args.stage, '--service': args.service, '--image': args.image,
            '--tag': args.tag, '--deployment-strategy': args.strategy, '--test-strategy': args.testStrategy,
            '--keptn-context': args.keptnContext,
        ]
        return flags.findAll { it.value }.collectMany { [it.key, "${it.value}"] }
    }

    /**
     * The credentials a stage's commands need, from the folder the chain jobs live in: the kubeconfig
     * of that stage (`kubeconfig-<stage>`) on Kubernetes and the Dynatrace token when a tenant is set.
     */
    List credentials(Map args) {
        List bindings = []
        String platform = args.platform ?: 'kubernetes'
        if (platform == 'kubernetes') {
            String id = args.kubeconfigCredentialsId ?: "kubeconfig-${args.stage}"
            bindings << steps.file(credentialsId: id, variable: 'KUBECONFIG')
        }
        if (args.dynatraceTokenCredentialsId) {
            bindings << steps.string(credentialsId: args.dynatraceTokenCredentialsId, variable: 'DT_API_TOKEN')
        }
        return bindings
    }

    /**
     * The evaluation history `evaluate` and `report` read and write (issue 16), for the CLI's environment:
     * `history` or the controller's PIPELINE_STEPS_HISTORY, a file path (SQLite) or a
     * `postgresql://user@host:port/db` URL. Passed as PIPELINE_STEPS_HISTORY, never as a flag. A URL that
     * carries a password fails the build before anything runs (the message does not repeat the URL): the
     * password belongs in the history credential (historyCredentials).
     */
    List<String> historyEnv(Map args) {
        String history = "${args.history ?: steps.env.PIPELINE_STEPS_HISTORY ?: ''}".trim()
        if (!history) {
            return []
        }
        if (isDatabase(history) && mayCarryPassword(history)) {
            steps.error('the evaluation history URL carries a password: remove it and store the password in the ' +
                "credential ${historyCredentialsId(args) ?: '(historyCredentialsId)'}, bound to PGPASSWORD")
        }
        return ["PIPELINE_STEPS_HISTORY=${history}".toString()]
    }

    /**
     * The PostgreSQL history's password: the secret-text credential `historyCredentialsId` (default: the
     * controller's PIPELINE_STEPS_HISTORY_CREDENTIALS_ID; casc.yaml keeps it in the chain folder like the
     * kubeconfigs) bound to PGPASSWORD, which libpq reads; only for a postgresql:// history, so a SQLite
     * file needs no credential.
     */
    List historyCredentials(Map args) {
        String history = "${args.history ?: steps.env.PIPELINE_STEPS_HISTORY ?: ''}".trim()
        String id = historyCredentialsId(args)
        return isDatabase(history) && id ? [steps.string(credentialsId: id, variable: 'PGPASSWORD')] : []
    }

    /** A document the CLI wrote, or an empty map when it did not write it. */
    Map document(String path) {
        return steps.fileExists(path) ? (steps.readJSON(file: path) as Map) : [:]
    }

    /**
     * The build result for an exit code (README "Exit codes"): 3 UNSTABLE (and 5 when nobody answers
     * here), 130 ABORTED, anything else but 0 FAILURE through `error`, which ends the step.
     */
    void apply(String step, int code, String detail = '') {
        String meaning = (MEANINGS[code] ?: 'unexpected exit code') + (detail ? ": ${detail}" : '')
        if (code == 0) {
            return
        }
        if (code == 3 || code == 5) {
            steps.unstable("${step}: exit ${code} (${meaning})")
            return
        }
        if (code == 130) {
            steps.currentBuild.result = 'ABORTED'
        }
        steps.error("${step}: exit ${code} (${meaning})")
    }

    /** `pipeline-steps rollback`: traffic back to the recorded weights (or to a colour); the exit code. */
    int rollback(Map args, String outDir) {
        List flags = ['rollback', '--platform', args.platform ?: 'kubernetes'] + contextFlags(args)
        flags += args.rollbackTo ? ['--to', args.rollbackTo] : ['--deployment', "${outDir}/deployment.json"]
        int code = 0
        steps.withCredentials(credentials(args)) {
            code = run('pipeline-steps rollback', flags)
        }
        String outcome = code == 0 ? 'restored' : "NOT restored (exit ${code}: ${MEANINGS[code] ?: 'unexpected exit code'})"
        steps.echo("rollback: traffic of ${args.service} in ${args.stage} ${outcome}")
        return code
    }

    private String historyCredentialsId(Map args) {
        return "${args.historyCredentialsId ?: steps.env.PIPELINE_STEPS_HISTORY_CREDENTIALS_ID ?: ''}".trim()
    }

    /**
     * Whether a postgresql:// URL carries a password, or may: libpq's user part (up to the first '@'
     * unless a '/' comes first; libpq fe-connect.c conninfo_uri_parse_options) holds a ':', another '@'
     * follows it (a password with an unencoded '/', '#' or '?' is cut elsewhere by each parser), or the
     * query names password or sslpassword. The CLI applies the same rule (history/postgres.py check_url).
     */
    static boolean mayCarryPassword(String url) {
        String rest = url.substring(url.indexOf('://') + 3)
        int at = rest.indexOf('@')
        int slash = rest.indexOf('/')
        boolean hasUser = at >= 0 && (slash < 0 || at < slash)
        String user = hasUser ? rest.substring(0, at) : ''
        String after = hasUser ? rest.substring(at + 1) : rest
        return user.contains(':') || after.contains('@') || after.toLowerCase().contains('password')
    }

    private static int severity(int code) {
        Map<Integer, Integer> rank = [0: 0, 1: 1, 2: 2, 130: 4]
        return rank.containsKey(code) ? rank[code] : 3
    }

    private static boolean isDatabase(String history) {
        return history.startsWith('postgresql://') || history.startsWith('postgres://')
    }
}
