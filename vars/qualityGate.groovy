import io.pipelinesteps.Cli

/**
 * qualityGate: judges a test window with `pipeline-steps evaluate` (a Pitometer perfspec or a Keptn
 * SLO over Prometheus, Dynatrace or the test run's own numbers), publishes JUnit with one case per
 * indicator, archives evaluation.json and, with `report: true`, writes the HTML history
 * (`pipeline-steps report`) and publishes it with publishHTML.
 * Exit codes (README): 0 PASS SUCCESS, 3 WARNING UNSTABLE, 1 FAIL / 2 bad input / 4 ERROR FAILURE -
 * after the rollback when `rollbackTo` or `rollback: true` is given (fail closed: no verdict, no pass).
 * Returns [exitCode, result, verdict, score, colour, weights, evaluation].
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
                                    '--colour': args.colour, '--history': args.history]
    optional.each { String flag, Object value ->
        if (value) {
            flags += [flag, value]
        }
    }
    if (args.dynatraceTokenCredentialsId) {
        flags += ['--dynatrace-token-env', 'DT_API_TOKEN']  // the variable's name, never the token
    }
    int code = 0
    withCredentials(cli.credentials(args + [platform: 'none'])) {
        code = cli.run('pipeline-steps evaluate', flags)
    }
    junit(testResults: "${outDir}/junit-evaluation.xml", allowEmptyResults: true, skipMarkingBuildUnstable: true)
    archiveArtifacts(artifacts: "${outDir}/**/*.json", allowEmptyArchive: true)
    Map evaluation = cli.document("${outDir}/evaluation.json")
    Map verdicts = [0: 'pass', 1: 'fail', 3: 'warning']
    Map result = [exitCode: code, result: [0: 'SUCCESS', 3: 'UNSTABLE', 130: 'ABORTED'][code] ?: 'FAILURE',
                  verdict: verdicts[code] ?: 'error', score: evaluation.totalScore ?: evaluation.score,
                  colour: args.colour ?: '', weights: null, evaluation: evaluation]
    if (args.report) {
        qualityGateReport(args, outDir)
    }
    if (code in [1, 2, 4] && (args.rollbackTo || args.rollback)) {
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
    if (args.history) {
        flags += ['--history', args.history]
    }
    int code = cli.run('pipeline-steps report', flags)
    if (code != 0) {
        echo "pipeline-steps report: exit ${code}; no HTML report this time"
        return
    }
    archiveArtifacts(artifacts: "${outDir}/report/**", allowEmptyArchive: true)
    publishHTML(target: [reportDir: "${outDir}/report", reportFiles: 'report.html', reportName: 'Quality gate history',
                         keepAll: true, alwaysLinkToLastBuild: true, allowMissing: true])
}
