import io.pipelinesteps.Cli
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * runTests: health, functional and performance checks with `pipeline-steps run-tests`; publishes the
 * JUnit file (one case per check) and archives testrun.json. When the tests do not pass (1 failed,
 * 2 could not start, 4 infrastructure, 130 interrupted) and `rollbackTo` names the colour that was live
 * before (or `rollback: true` restores deployment.json's weights), traffic goes back first - an untested
 * colour never keeps it, as in the run_tests Jenkinsfile - then the build fails (130: ABORTED).
 *
 * `shards: N` (1..64, default 1) splits a performance test over N agents (`agentLabel`, default agents
 * with this one's labels): N `parallel` branches, each `run-tests --shard I/N` into OUT/shard-I on its own
 * `node`, stashing its testrun.json and JUnit; back here every stash is unstashed and `pipeline-steps
 * testrun merge --shards N` writes OUT/testrun.json, histograms added exactly. Fail closed: a shard that
 * does not pass, or does not finish, means no merge (never part of a test judged as the whole), and its
 * exit code (a shard that did not finish: 4, an interrupted one: 130) decides as one run's would. A shard
 * count outside 1..64, or over 1 for a functional test, is bad input (2) before anything runs.
 * Returns [exitCode, result, verdict ('pass' | 'fail'), shards, colour, rolledBack, testrun].
 */
Map call(Map args = [:]) {
    Cli cli = new Cli(this)
    String outDir = args.outDir ?: 'out'
    String problem = Cli.shardsProblem(args.shards, args.testStrategy)
    int shards = problem ? 1 : Cli.shards(args.shards)
    int code = 2
    if (problem) {
        echo("runTests: shards ${problem} (bad input: no test ran)")
    } else if (shards == 1) {
        withCredentials(cli.credentials(args)) {
            code = cli.run('pipeline-steps run-tests', runFlags(args, outDir))
        }
    } else {
        code = runShards(cli, args, outDir, shards)
    }
    String junitFiles = shards == 1 ? "${outDir}/junit-tests.xml" : "${outDir}/shard-*/junit-tests.xml"
    junit(testResults: junitFiles, allowEmptyResults: true, skipMarkingBuildUnstable: true)
    archiveArtifacts(artifacts: "${outDir}/**/*.json", allowEmptyArchive: true)
    boolean rolledBack = false
    if (code != 0 && (args.rollbackTo || args.rollback)) {
        cli.rollback(args, outDir)
        rolledBack = true
    }
    Map testrun = cli.document("${outDir}/testrun.json")
    Map result = [exitCode: code, result: Cli.result(code),
                  verdict: code == 0 ? 'pass' : 'fail', score: null, colour: args.colour ?: '', weights: null,
                  rolledBack: rolledBack, shards: shards, testrun: testrun]
    if (args.failBuild != false) {
        cli.apply('run-tests', code, problem ? "shards ${problem}" : '')
    }
    return result
}

/** What is wrong with a shard count for this test strategy ('' when nothing): for a Jenkinsfile's early check. */
String shardsProblem(Object value, Object testStrategy) {
    return Cli.shardsProblem(value, testStrategy)
}

List runFlags(Map args, String outDir) {
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
    return flags
}

/** The shards on `count` agents, then their merge here; the exit code that stands for the whole test. */
int runShards(Cli cli, Map args, String outDir, int count) {
    String label = args.agentLabel ?: currentLabel()
    // Stash names are per build and a second stash of a name replaces the first: one set per out folder.
    String prefix = "runTests-${outDir.replaceAll('[^A-Za-z0-9_.-]', '_')}"
    String config = args.serviceConfig ?: 'service.yaml'
    String folder = config.contains('/') ? config.substring(0, config.lastIndexOf('/')) : ''
    Map branches = [:]
    for (int i = 1; i <= count; i++) {
        int shard = i  // a variable per closure: the loop's would be shared
        branches["shard ${shard}/${count}".toString()] = {
            int shardCode = 4
            node(label) {
                unstash("${prefix}-service")
                String shardOut = "${outDir}/shard-${shard}"
                withCredentials(cli.credentials(args)) {
                    shardCode = cli.run("pipeline-steps run-tests (shard ${shard}/${count})",
                                        runFlags(args, shardOut) + ['--shard', "${shard}/${count}"])
                }
                // A shard that passed and wrote nothing fails here ("No files included in stash").
                stash(name: "${prefix}-${shard}", includes: "${shardOut}/testrun.json,${shardOut}/junit-tests.xml",
                      allowEmpty: shardCode != 0)
            }
            return shardCode
        }
    }
    Map results = [:]
    try {
        // What a shard's agent needs besides the CLI: service.yaml and the workload beside it.
        stash(name: "${prefix}-service", includes: args.serviceFiles ?: (folder ? "${folder}/**" : '**'), excludes: "${outDir}/**")
        results = parallel(branches)
        for (int i = 1; i <= count; i++) {
            unstash("${prefix}-${i}")
        }
    } catch (FlowInterruptedException interrupted) {
        echo("run-tests: the shards were interrupted (${interrupted.message}); nothing is merged")
        return 130
    // groovylint-disable-next-line CatchException
    } catch (Exception failure) {  // fail closed: whatever stopped a shard (a step, a lost agent, a bad label) rolls back
        echo("run-tests: a shard did not finish (${failure.message}); part of a test is never merged")
        return 4
    }
    List<Integer> codes = []
    List<String> failed = []
    for (int i = 1; i <= count; i++) {
        Object shardCode = results["shard ${i}/${count}".toString()]
        codes << (shardCode == null ? 4 : shardCode as int)
        if (codes[-1] != 0) {
            failed << "${i}/${count} (exit ${codes[-1]})".toString()
        }
    }
    if (failed) {
        echo("run-tests: shard ${failed.join(', ')} did not pass; the shards are not merged")
        return Cli.worst(codes)
    }
    List files = []
    for (int i = 1; i <= count; i++) {
        files << "${outDir}/shard-${i}/testrun.json"
    }
    return cli.run('pipeline-steps testrun merge', ['testrun', 'merge', '--shards', "${count}", '--out-dir', outDir] + files)
}

/** Agents like this one: its labels but its own name (NODE_LABELS holds both); null (any agent) when it has none. */
String currentLabel() {
    List<String> labels = "${env.NODE_LABELS ?: ''}".tokenize() - ["${env.NODE_NAME ?: ''}".toString()]
    return labels ? labels.sort().join(' && ') : null
}
