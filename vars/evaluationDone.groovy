import io.pipelinesteps.Cli

/**
 * evaluationDone: acts on a verdict with `pipeline-steps evaluation-done`: promote, roll the traffic
 * back (fail and error: fail closed), or - exit 5, the stage wants a person to approve a WARNING - ask
 * with the `approval` step and run it again with the answer. `approval: 'defer'` returns at exit 5
 * with `approvalRequired: true` instead, so a Jenkinsfile can ask outside its agent and call again with
 * `approval: answer`. Archives promotion.json and the events; exit codes as the README says (0
 * SUCCESS, 5 still unanswered UNSTABLE, 1/2/4 FAILURE after the rollback the CLI did, 130 ABORTED).
 * Returns [exitCode, result, verdict, score, colour, weights, action, nextStage, approvalRequired, approvedBy].
 */
Map call(Map args = [:]) {
    Cli cli = new Cli(this)
    String outDir = args.outDir ?: 'out'
    String verdict = args.verdict ?: ''
    String asked = args.approval ?: 'ask'
    String answer = asked in ['approve', 'reject'] ? asked : 'auto'
    int code = once(cli, args, outDir, answer)
    String approvedBy = ''
    if (code == 5 && asked == 'defer') {
        return summary(cli, args, outDir, code) + [approvalRequired: true, result: 'UNSTABLE']
    }
    if (code == 5 && asked == 'ask') {
        Map answered = approval(message: "Gate verdict WARNING for ${args.service} ${args.tag} in ${args.stage}: promote?")
        approvedBy = answered.by
        code = once(cli, args, outDir, answered.answer)
    }
    archiveArtifacts(artifacts: "${outDir}/**/*.json", allowEmptyArchive: true)
    Map result = summary(cli, args, outDir, code) + [approvalRequired: false, approvedBy: approvedBy, verdict: verdict]
    if (args.failBuild != false) {
        cli.apply('evaluation-done', code)
    }
    return result
}

int once(Cli cli, Map args, String outDir, String answer) {
    List flags = ['evaluation-done', '--platform', args.platform ?: 'kubernetes'] + Cli.contextFlags(args) +
        ['--shipyard', args.shipyard ?: 'shipyard.yaml', '--out-dir', outDir, '--approval', answer]
    Map<String, Object> optional = ['--verdict': args.verdict, '--evaluation': args.evaluation, '--deployment': args.deployment,
                                    '--colour': args.colour, '--previous-colour': args.previousColour,
                                    '--weights-before': args.weightsBefore]
    optional.each { String flag, Object value ->
        if (value) {
            flags += [flag, value]
        }
    }
    int code = 0
    withCredentials(cli.credentials(args)) {
        code = cli.run(answer == 'auto' ? 'pipeline-steps evaluation-done' : 'pipeline-steps evaluation-done (approval)', flags)
    }
    return code
}

Map summary(Cli cli, Map args, String outDir, int code) {
    Map promotion = cli.document("${outDir}/promotion.json")
    return [exitCode: code, result: Cli.result(code),
            verdict: args.verdict ?: '', score: null, colour: args.colour ?: '', weights: promotion.weights ?: null,
            action: promotion.action ?: '', nextStage: promotion.next_stage ?: '']
}
