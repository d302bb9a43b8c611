import io.pipelinesteps.Cli

/**
 * qualityGate: judges a test window with `pipeline-steps evaluate` (a Pitometer perfspec or a Keptn
 * SLO over Prometheus, Dynatrace or the test run's own numbers), publishes JUnit with one case per
 * indicator, archives evaluation.json and, with `report: true`, writes the HTML history
 * (`pipeline-steps report`) and publishes it with publishHTML. The history (`history`, else the
 * controller's PIPELINE_STEPS_HISTORY: a file or a postgresql:// URL) reaches the CLI as environment,
 * its password from the credential `historyCredentialsId` as PGPASSWORD (Cli.historyEnv).
 * Exit codes (README): 0 PASS SUCCESS, 3 WARNING UNSTABLE, 1 FAIL / 2 bad input / 4 ERROR FAILURE,
 * 130 ABORTED - each of these four after the rollback when `rollbackTo` or `rollback: true` is given
 * (fail closed: without a verdict of PASS or WARNING the new colour does not keep the traffic).
 * Returns [exitCode, result, verdict, score, colour, weights, evaluation, rolledBack].
 */
Map call(Map args = [:]) {
    Cli cli = new Cli(this)
    String outDir = args.outDir ?: 'out'
    List flags = ['evaluate'] + Cli.contextFlags(args) + ['--out-dir', outDir]
    if (args.slo) {
        flags += ['--slo', args.slo, '--sli', args.sli ?: 'sli.yaml']
    } else {
        flags += ['--spec', args.spec ?: 'perfspec.json']
    }
    flags += args.start ? ['--start', args.start, '--end', args.end] : ['--testrun', args.testrun ?: "${outDir}/testrun.json"]
    Map<String, Object> optional = ['--prometheus-url': args.prometheusUrl, '--dynatrace-url': args.dynatraceUrl,
                                    '--colour': args.colour]
    optional.each { String flag, Object value ->
        if (value) {
            flags += [flag, value]
        }
    }
    if (args.dynatraceTokenCredentialsId) {
        flags += ['--dynatrace-token-env', 'DT_API_TOKEN']  // the variable's name, never the token
    }
    int code = 0
    List<String> history = cli.historyEnv(args)
    withCredentials(cli.credentials(args + [platform: 'none']) + cli.historyCredentials(args)) {
        code = cli.run('pipeline-steps evaluate', flags, history)
    }
    junit(testResults: "${outDir}/junit-evaluation.xml", allowEmptyResults: true, skipMarkingBuildUnstable: true)
    archiveArtifacts(artifacts: "${outDir}/**/*.json", allowEmptyArchive: true)
    Map evaluation = cli.document("${outDir}/evaluation.json")
    Map verdicts = [0: 'pass', 1: 'fail', 3: 'warning']
    Map result = [exitCode: code, result: Cli.result(code),
                  verdict: verdicts[code] ?: 'error', score: evaluation.totalScore ?: evaluation.score,
                  colour: args.colour ?: '', weights: null, evaluation: evaluation, rolledBack: false]
    if (args.report) {
        qualityGateReport(args, outDir)
    }
    if (!(code in [0, 3]) && (args.rollbackTo || args.rollback)) {
        cli.rollback(args, outDir)
        result.rolledBack = true
    }
    if (args.failBuild != false) {
        cli.apply('evaluate', code)
    }
    return result
}

/** The evaluation history as HTML next to its stylesheet, published (htmlpublisher) and archived. */
void qualityGateReport(Map args, String outDir) {
    Cli cli = new Cli(this)
    List flags = ['report', '--project', args.project, '--service', args.service, '--out', "${outDir}/report/report.html"]
    if (args.shipyard) {
        flags += ['--shipyard', args.shipyard]
    }
    int code = 0
    withCredentials(cli.historyCredentials(args)) {
        code = cli.run('pipeline-steps report', flags, cli.historyEnv(args))
    }
    if (code != 0) {
        echo "pipeline-steps report: exit ${code}; no HTML report this time"
        return
    }
    archiveArtifacts(artifacts: "${outDir}/report/**", allowEmptyArchive: true)
    publishHTML(target: [reportDir: "${outDir}/report", reportFiles: 'report.html', reportName: 'Quality gate history',
                         keepAll: true, alwaysLinkToLastBuild: true, allowMissing: true])
}
