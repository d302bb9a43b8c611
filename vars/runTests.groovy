import io.pipelinesteps.Cli

/**
 * runTests: health, functional and performance checks with `pipeline-steps run-tests`; publishes the
 * JUnit file (one case per check) and archives testrun.json. When the tests fail and `rollbackTo`
 * names the colour that was live before (or `rollback: true` restores deployment.json's weights),
 * traffic goes back first, then the build fails (README: 1 -> FAILURE after the rollback).
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
    if (code != 0 && code != 2 && (args.rollbackTo || args.rollback)) {
        cli.rollback(args, outDir)
        rolledBack = true
    }
    Map testrun = cli.document("${outDir}/testrun.json")
    Map result = [exitCode: code, result: code == 0 ? 'SUCCESS' : (code == 130 ? 'ABORTED' : 'FAILURE'),
                  verdict: code == 0 ? 'pass' : 'fail', score: null, colour: args.colour ?: '', weights: null,
                  rolledBack: rolledBack, testrun: testrun]
    if (args.failBuild != false) {
        cli.apply('run-tests', code)
    }
    return result
}
