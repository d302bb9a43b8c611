package harness

import hudson.AbortException

/**
 * The `sh` step (workflow-durable-task-step): the script runs as `sh -xe` in the current directory of the
 * node's workspace with the step's environment; a non-zero exit fails the step ("script returned exit
 * code N") unless returnStatus; returnStdout returns what it printed. Scripted mode answers by label
 * (scenario.sh.results: {label: {exit, stdout}} or a list of such answers, used in turn).
 */
class Shell {
    static Object run(Build build, Map args) {
        String label = args.label ?: ''
        File cwd = build.cwd('sh')
        Map<String, String> env = build.environment()
        Map event = build.record('sh', [label: label, script: args.script, env: env, cwd: cwd.path])
        if (label && label == build.scenario.hangOn) {
            build.hang("sh '${label}'")
        }
        Map shell = (build.scenario.sh ?: [:]) as Map
        int code
        String out
        if (shell.mode == 'real') {
            (code, out) = real(cwd, env, args.script as String)
        } else {
            Object answer = ((shell.results ?: [:]) as Map)[label] ?: [:]
            if (answer instanceof List) {
                List answers = answer as List
                answer = answers.size() > 1 ? answers.remove(0) : answers[0]
            }
            code = ((answer as Map).exit ?: 0) as int
            out = (answer as Map).stdout ?: ''
        }
        event.exit = code
        event.stdout = out.length() > 4000 ? out.substring(0, 4000) : out
        if (args.returnStatus) {
            return code
        }
        if (code != 0) {
            throw new AbortException("script returned exit code ${code}")
        }
        return args.returnStdout ? out : null
    }

    private static List real(File cwd, Map<String, String> env, String script) {
        File file = File.createTempFile('durable-', '.sh')
        file.text = script
        try {
            ProcessBuilder builder = new ProcessBuilder('/bin/sh', '-xe', file.path).directory(cwd)
            env.each { k, v -> if (v != null) { builder.environment().put(k, v) } }
            builder.redirectError(ProcessBuilder.Redirect.INHERIT)
            Process process = builder.start()
            String out = process.inputStream.getText('UTF-8')
            int code = process.waitFor()
            System.err.print(out)
            return [code, out]
        } finally {
            file.delete()
        }
    }
}
