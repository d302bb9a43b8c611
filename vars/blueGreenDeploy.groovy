import io.pipelinesteps.Cli

/**
 * blueGreenDeploy: puts image:tag into a stage with `pipeline-steps deploy` (blue/green into the free
 * colour and flip once it is ready, or `strategy: 'direct'`), archives deployment.json and returns
 * [exitCode, result, verdict, score, colour, previousColour, weights, weightsBefore, deployment].
 * A failed deploy leaves the traffic where it was (the CLI flips only a ready colour); exit codes map
 * to the build result as the README says unless `failBuild: false`.
 */
Map call(Map args = [:]) {
    Cli cli = new Cli(this)
    String outDir = args.outDir ?: 'out'
    Map context = args + [strategy: args.strategy ?: 'blue_green_service']
    List flags = ['deploy', '--platform', args.platform ?: 'kubernetes'] + Cli.contextFlags(context) +
        ['--service-config', args.serviceConfig ?: 'service.yaml', '--out-dir', outDir]
    if (args.noSwitch) {
        flags << '--no-switch'
    }
    if (args.timeoutSeconds) {
        flags += ['--timeout', args.timeoutSeconds]
    }
    int code = 0
    withCredentials(cli.credentials(args)) {
        code = cli.run('pipeline-steps deploy', flags)
    }
    archiveArtifacts(artifacts: "${outDir}/**/*.json", allowEmptyArchive: true)
    Map deployment = cli.document("${outDir}/deployment.json")
    Map result = [exitCode: code, result: Cli.result(code), verdict: null, score: null,
                  colour: deployment.colour ?: '', previousColour: deployment.previous_colour ?: '',
                  weights: deployment.weights_after ?: deployment.weights_before, weightsBefore: deployment.weights_before,
                  deployment: deployment]
    if (args.failBuild != false) {
        cli.apply('deploy', code)
    }
    return result
}
