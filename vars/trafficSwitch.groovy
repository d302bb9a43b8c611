import io.pipelinesteps.Cli

/**
 * trafficSwitch: moves a stage's traffic with `pipeline-steps switch` (`weights: '90/10'` or
 * `to: 'green'`), verified by reading it back, or with `rollback: true` restores the weights recorded
 * in deployment.json before the flip (`pipeline-steps rollback`). Returns [exitCode, result, colour,
 * weights]; 2 and 4 fail the build unless `failBuild: false`.
 */
Map call(Map args = [:]) {
    Cli cli = new Cli(this)
    String outDir = args.outDir ?: 'out'
    int code
    if (args.rollback) {
        code = cli.rollback(args + [rollbackTo: args.to], outDir)
    } else {
        List flags = ['switch', '--platform', args.platform ?: 'kubernetes'] + Cli.contextFlags(args) +
            ['--weights', args.weights ?: args.to]
        withCredentials(cli.credentials(args)) {
            code = cli.run('pipeline-steps switch', flags)
        }
    }
    Map result = [exitCode: code, result: Cli.result(code), verdict: null, score: null,
                  colour: args.to ?: '', weights: args.weights ?: null]
    if (args.failBuild != false) {
        cli.apply(args.rollback ? 'rollback' : 'switch', code)
    }
    return result
}
