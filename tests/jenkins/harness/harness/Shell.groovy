package harness

import hudson.AbortException

/**
 * The `sh` step (workflow-durable-task-step): the script runs as `sh -xe` in the current directory of the
 * node's workspace with the step's environment; a non-zero exit fails the step ("script returned exit
 * code N") unless returnStatus; returnStdout returns what it printed and logs only stderr (else both go
 * to the console log). Modes (scenario.sh):
 *
 * - scripted (default): answers by label from scenario.sh.results ({label: {exit, stdout, writes}} or a
 *   list of such answers used in turn; `writes` puts files into the current directory, as the command
 *   would have written its documents);
 * - `mode: 'real'`: the script runs for real; `signal: {label, marker, signal}` sends SIGTERM (or INT) to
 *   the script's process and its descendants once a line of its output contains `marker`, as
 *   durable-task's stop does to a step's process tree;
 * - `replay: true` with scripted answers: the script ALSO runs for real (same text, environment and
 *   directory), its exit and output recorded as `replay`, while the pipeline goes on with the scripted
 *   answer: the shell really interprets every script whatever the commands answer.
 */
class Shell {
    static Object run(Build build, Map args) {
        String label = args.label ?: ''
        File cwd = build.cwd('sh')
        Map<String, String> env = build.environment()
        Map event = build.record('sh', [label: label, script: args.script, env: env, cwd: cwd.path])
        Map shell = (build.scenario.sh ?: [:]) as Map
        if (label && label == build.scenario.hangOn) {
            if (shell.replay && shell.mode != 'real') {  // the script started; it is its answer that never comes
                Map ran = real(cwd, env, args.script as String, null)
                event.replay = [exit: ran.exit, stdout: cut(ran.stdout), stderr: cut(ran.stderr)]
            }
            build.hang("sh '${label}'")
        }
        int code
        String out
        String err = ''
        if (shell.mode == 'real') {
            long started = System.nanoTime()
            Map ran = real(cwd, env, args.script as String, signalFor(shell, label))
            event.seconds = (System.nanoTime() - started) / 1e9
            code = ran.exit as int
            out = ran.stdout
            err = ran.stderr
            event.signalled = ran.signalled
        } else {
            Object answer = ((shell.results ?: [:]) as Map)[label] ?: [:]
            if (answer instanceof List) {
                List answers = answer as List
                answer = answers.size() > 1 ? answers.remove(0) : answers[0]
            }
            if (shell.replay) {
                Map ran = real(cwd, env, args.script as String, null)
                event.replay = [exit: ran.exit, stdout: cut(ran.stdout), stderr: cut(ran.stderr)]
                err = ran.stderr
            }
            code = ((answer as Map).exit ?: 0) as int
            out = (answer as Map).stdout ?: ''
            ((answer as Map).writes ?: [:]).each { String rel, String text ->
                File target = new File(cwd, rel)
                target.parentFile.mkdirs()
                target.text = text
            }
        }
        event.exit = code
        event.stdout = cut(out)
        event.stderr = cut(err)
        build.log(err)
        if (!args.returnStdout) {
            build.log(out)
        }
        if (args.returnStatus) {
            return code
        }
        if (code != 0) {
            build.log("ERROR: script returned exit code ${code}".toString())
            throw new AbortException("script returned exit code ${code}")
        }
        return args.returnStdout ? out : null
    }

    private static String cut(String text) {
        return text.length() > 8000 ? text.substring(text.length() - 8000) : text
    }

    private static Map signalFor(Map shell, String label) {
        Map wanted = shell.signal as Map
        return wanted && wanted.label == label ? wanted : null
    }

    /** /bin/sh -xe SCRIPT with exactly the step's environment on top of the agent's; output read line by line. */
    private static Map real(File cwd, Map<String, String> env, String script, Map signal) {
        File file = File.createTempFile('durable-', '.sh')
        file.text = script
        try {
            ProcessBuilder builder = new ProcessBuilder('/bin/sh', '-xe', file.path).directory(cwd)
            env.each { k, v -> if (v != null) { builder.environment().put(k, v) } }
            Process process = builder.start()
            process.outputStream.close()
            Map state = [signalled: false]
            Closure watch = { String line ->
                synchronized (state) {
                    if (signal && !state.signalled && line.contains(signal.marker as String)) {
                        state.signalled = true
                        kill(process, (signal.signal ?: 'TERM') as String)
                    }
                }
            }
            StringBuilder out = new StringBuilder()
            StringBuilder err = new StringBuilder()
            Thread stdout = Thread.start { process.inputStream.withReader('UTF-8') { r -> r.eachLine { out << it << '\n'; watch(it) } } }
            Thread stderr = Thread.start { process.errorStream.withReader('UTF-8') { r -> r.eachLine { err << it << '\n'; watch(it) } } }
            int code = process.waitFor()
            stdout.join()
            stderr.join()
            System.err.print(err)
            return [exit: code, stdout: out.toString(), stderr: err.toString(), signalled: state.signalled]
        } finally {
            file.delete()
        }
    }

    /** kill -SIG to the script's process and every descendant (durable-task stops the whole tree). */
    private static void kill(Process process, String name) {
        List<Long> pids = [process.pid()] + process.toHandle().descendants().collect { it.pid() }
        new ProcessBuilder(['kill', "-${name}".toString()] + pids.collect { it.toString() }).inheritIO().start().waitFor()
    }
}
