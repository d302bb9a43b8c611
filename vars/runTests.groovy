import io.pipelinesteps.Cli

/**
 * runTests: health, functional and performance checks with `pipeline-steps run-tests`; publishes the
 * JUnit file (one case per check) and archives testrun.json. When the tests do not pass (1 failed,
 * 2 could not start, 4 infrastructure, 130 interrupted) and `rollbackTo` names the colour that was live
 * before (or `rollback: true` restores deployment.json's weights), traffic goes back first - an untested
 * colour never keeps it, as in the run_tests Jenkinsfile - then the build fails (130: ABORTED).
 * Returns [exitCode, result, verdict ('pass' | 'fail'), score, colour, weights, testrun].
 */
Map call(Map args = [:]) {
    Cli cli = new Cli(this)
    String outDir = args.outDir ?: 'out'
    List flags = ['run-tests', '--platform', args.platform ?: 'kubernetes'] + Cli.contextFlags(args) +
        ['--service-config', args.serviceConfig ?: 'service.yaml', '--out-dir', outDir]
    if (args.target) {
        flags += ['--target', args.target]
    }
    ['users', 'loops', 'duration'].each { String name ->
        if (args[name]) {
            flags += ["--${name}", args[name]]
        }
    }
    int code = 0
    withCredentials(cli.credentials(args)) {
        code = cli.run('pipeline-steps run-tests', flags)
    }
    junit(testResults: "${outDir}/junit-tests.xml", allowEmptyResults: true, skipMarkingBuildUnstable: true)
    archiveArtifacts(artifacts: "${outDir}/**/*.json", allowEmptyArchive: true)
    boolean rolledBack = false
    if (code != 0 && (args.rollbackTo || args.rollback)) {
        cli.rollback(args, outDir)
        rolledBack = true
    }
    Map testrun = cli.document("${outDir}/testrun.json")
    Map result = [exitCode: code, result: Cli.result(code),
                  verdict: code == 0 ? 'pass' : 'fail', score: null, colour: args.colour ?: '', weights: null,
                  rolledBack: rolledBack, testrun: testrun]
    if (args.failBuild != false) {
        cli.apply('run-tests', code)
    }
    return result
}
