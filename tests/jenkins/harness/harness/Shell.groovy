package harness

import hudson.AbortException

import java.util.concurrent.TimeUnit

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
 *
 * A real script is bounded and observable, so a hang in the product can never hang the harness silently:
 *
 * - it runs with its own `JENKINS_SERVER_COOKIE=durable-<hex>`, and a stop signals every process carrying
 *   that cookie plus the script's descendants: durable-task's FileMonitoringController.stop is
 *   `launcher.kill(singletonMap(COOKIE, cookieFor(workspace)))`, i.e. hudson.util.ProcessTree.killAll by
 *   environment, which reaches a process that left the tree (its own session, reparented to init);
 * - `scenario.sh.deadlineSeconds` (default DEADLINE_S) bounds each script, as a `timeout` step would: past it
 *   the tree gets SIGTERM, then SIGKILL after SOFT_KILL_S (ProcessTree's soft kill before the hard one), the
 *   console gets its stdout and stderr so far, and the step hangs in Build.hang's sense (an enclosing
 *   timeout fires; without one the scenario ends HUNG, as the build would never end on Jenkins);
 * - stderr goes to the harness's stderr line by line as it arrives (prefixed `[sh LABEL]`), not at the end;
 * - the step ends when the script's process ends, as durable-task's does (it polls the exit status file the
 *   wrapper writes; it never waits for the output to close): output still open PIPE_GRACE_MS later is held
 *   by a descendant, which is recorded (`pipesHeldBy`) and no longer read.
 */
class Shell {
    /** The environment variable durable-task marks a step's processes with (FileMonitoringTask.COOKIE). */
    static final String COOKIE = 'JENKINS_SERVER_COOKIE'
    static final long DEADLINE_S = 240
    static final long SOFT_KILL_S = 5
    static final long PIPE_GRACE_MS = 2000

    static Object run(Build build, Map args) {
        String label = args.label ?: ''
        File cwd = build.cwd('sh')
        Map<String, String> env = build.environment()
        Map event = build.record('sh', [label: label, script: args.script, env: env, cwd: cwd.path])
        Map shell = (build.scenario.sh ?: [:]) as Map
        long deadline = (shell.deadlineSeconds ?: DEADLINE_S) as long
        if (label && label == build.scenario.hangOn) {
            if (shell.replay && shell.mode != 'real') {  // the script started; it is its answer that never comes
                Map ran = real(cwd, env, args.script as String, null, label, deadline)
                event.replay = [exit: ran.exit, stdout: cut(ran.stdout), stderr: cut(ran.stderr)]
            }
            build.hang("sh '${label}'")
        }
        int code
        String out
        String err = ''
        if (shell.mode == 'real') {
            long started = System.nanoTime()
            Map ran = real(cwd, env, args.script as String, signalFor(shell, label), label, deadline)
            event.seconds = (System.nanoTime() - started) / 1e9
            code = ran.exit as int
            out = ran.stdout
            err = ran.stderr
            event.signalled = ran.signalled
            if (ran.pipesHeldBy != null) {
                event.pipesHeldBy = ran.pipesHeldBy
            }
            if (ran.overran) {
                overran(build, event, label, ran)
            }
        } else {
            Object answer = ((shell.results ?: [:]) as Map)[label] ?: [:]
            if (answer instanceof List) {
                List answers = answer as List
                answer = answers.size() > 1 ? answers.remove(0) : answers[0]
            }
            if (shell.replay) {
                Map ran = real(cwd, env, args.script as String, null, label, deadline)
                event.replay = [exit: ran.exit, stdout: cut(ran.stdout), stderr: cut(ran.stderr)]
                err = ran.stderr
                if (ran.overran) {
                    overran(build, event, label, ran)
                }
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

    /** A script past its deadline: its output so far goes to the console and the harness's stderr, then the
     * step counts as one that never ended (Build.hang: the enclosing timeout fires, or the scenario is HUNG). */
    private static void overran(Build build, Map event, String label, Map ran) {
        event.overran = ran.overran
        event.exit = ran.exit
        event.stdout = cut(ran.stdout as String)
        event.stderr = cut(ran.stderr as String)
        String what = "sh '${label}' still running after ${(ran.overran as Map).seconds}s (harness deadline); " +
            "stopped ${(ran.overran as Map).stopped}"
        String report = "${what}\n--- its stdout so far:\n${cut(ran.stdout as String)}\n--- its stderr so far:\n" +
            "${cut(ran.stderr as String)}\n---"
        System.err.println("HARNESS DEADLINE: ${report}")
        build.log(report)
        build.hang(what)
    }

    private static String cut(String text) {
        return text.length() > 8000 ? text.substring(text.length() - 8000) : text
    }

    private static Map signalFor(Map shell, String label) {
        Map wanted = shell.signal as Map
        return wanted && wanted.label == label ? wanted : null
    }

    /**
     * /bin/sh -xe SCRIPT with exactly the step's environment on top of the agent's (plus its cookie); output read
     * line by line. Returns [exit, stdout, stderr, signalled, overran: null or [seconds, stopped], pipesHeldBy:
     * null or the processes still carrying the cookie when the output stayed open after the script ended].
     */
    private static Map real(File cwd, Map<String, String> env, String script, Map signal, String label, long deadlineS) {
        File file = File.createTempFile('durable-', '.sh')
        file.text = script
        String cookie = "durable-${UUID.randomUUID().toString().replace('-', '')}".toString()
        try {
            ProcessBuilder builder = new ProcessBuilder('/bin/sh', '-xe', file.path).directory(cwd)
            env.each { k, v -> if (v != null) { builder.environment().put(k, v) } }
            builder.environment().put(COOKIE, cookie)
            Process process = builder.start()
            process.outputStream.close()
            Map state = [signalled: false]
            Closure watch = { String line ->
                synchronized (state) {
                    if (signal && !state.signalled && line.contains(signal.marker as String)) {
                        state.signalled = true
                        kill(members(process, cookie), (signal.signal ?: 'TERM') as String)
                    }
                }
            }
            StringBuffer out = new StringBuffer()
            StringBuffer err = new StringBuffer()
            String prefix = "[sh ${label ?: '(no label)'}] "
            // daemon threads: a reader blocked on a pipe a descendant keeps open must not keep the JVM alive
            Thread stdout = Thread.startDaemon { lines(process.inputStream) { String line -> out << line << "\n"; watch(line) } }
            Thread stderr = Thread.startDaemon {
                lines(process.errorStream) { String line -> err << line << "\n"; System.err.println(prefix + line); watch(line) }
            }
            Map overran = null
            if (!process.waitFor(deadlineS, TimeUnit.SECONDS)) {
                overran = [seconds: deadlineS, stopped: stop(process, cookie)]
            }
            int code = process.waitFor()
            stdout.join(PIPE_GRACE_MS)
            stderr.join(PIPE_GRACE_MS)
            List pipesHeldBy = null
            if (stdout.alive || stderr.alive) {
                pipesHeldBy = describe(members(process, cookie))
                System.err.println("${prefix}ended (exit ${code}) but its ${stdout.alive ? 'stdout' : 'stderr'} is still " +
                    "open, held by a process it left behind: ${pipesHeldBy}; no longer read")
            }
            return [exit: code, stdout: out.toString(), stderr: err.toString(), signalled: state.signalled,
                    overran: overran, pipesHeldBy: pipesHeldBy]
        } finally {
            file.delete()
        }
    }

    private static void lines(InputStream stream, Closure each) {
        try {
            stream.withReader('UTF-8') { r -> r.eachLine { each(it) } }
        } catch (IOException ignored) {
            // the stream was closed under the reader: nothing more will come
        }
    }

    /**
     * The script's process, every process carrying its cookie (those that left the tree too), and all their
     * descendants, read from /proc (Groovy 2.4 cannot call ProcessHandle's static interface methods).
     */
    static List<Long> members(Process process, String cookie) {
        Map<Long, Long> parents = liveParents()
        String marker = "${COOKIE}=${cookie}".toString()
        Set<Long> pids = new LinkedHashSet<Long>()
        if (parents.containsKey(process.pid())) {
            pids << process.pid()
        }
        parents.keySet().each { long pid -> if (environ(pid).contains(marker)) { pids << pid } }
        Set<Long> roots = new HashSet<Long>(pids)
        roots << process.pid()
        boolean grew = true
        while (grew) {
            grew = false
            parents.each { long pid, long parent ->
                if (roots.contains(parent) && !roots.contains(pid)) {
                    roots << pid
                    pids << pid
                    grew = true
                }
            }
        }
        return pids as List<Long>
    }

    /** pid -> parent pid of every live process (zombies and exiting ones left out), from /proc/PID/stat. */
    private static Map<Long, Long> liveParents() {
        Map<Long, Long> found = [:]
        (new File('/proc').list() ?: new String[0]).findAll { it ==~ /\d+/ }.each { String name ->
            List<String> stat = stat(name as long)
            if (stat.size() > 1 && !(stat[0] in ['Z', 'X'])) {
                found[name as long] = stat[1] as long
            }
        }
        return found
    }

    /** /proc/PID/stat fields after the command name: [state, ppid, ...]; [] when gone. */
    private static List<String> stat(long pid) {
        try {
            String text = new File("/proc/${pid}/stat").getText('UTF-8')
            return text.substring(text.lastIndexOf(')') + 1).trim().split(' ') as List<String>
        } catch (IOException ignored) {
            return []
        }
    }

    private static boolean alive(long pid) {
        List<String> fields = stat(pid)
        return fields && !(fields[0] in ['Z', 'X'])
    }

    private static List<String> environ(long pid) {
        try {
            return new String(new File("/proc/${pid}/environ").bytes, 'UTF-8').split('\u0000') as List<String>
        } catch (IOException ignored) {
            return []  // gone, or not ours to read
        }
    }

    private static List<String> describe(List<Long> pids) {
        return pids.collect { long pid ->
            String cmd
            try {
                cmd = new String(new File("/proc/${pid}/cmdline").bytes, 'UTF-8').replace('\u0000' as char, ' ' as char).trim()
            } catch (IOException ignored) {
                cmd = '(gone)'
            }
            "${pid} ${cmd.length() > 160 ? cmd.substring(0, 160) + '...' : cmd}".toString()
        }
    }

    /** Past the deadline: SIGTERM to everything of the step, SIGKILL to what is left after SOFT_KILL_S; what was stopped. */
    private static List<String> stop(Process process, String cookie) {
        List<Long> pids = members(process, cookie)
        List<String> stopped = describe(pids)
        kill(pids, 'TERM')
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(SOFT_KILL_S)
        while (System.nanoTime() < until && pids.any { alive(it) }) {
            Thread.sleep(50)
        }
        List<Long> left = members(process, cookie)
        if (left) {
            kill(left, 'KILL')
        }
        return stopped
    }

    /** kill -SIG to each pid (a durable-task stop reaches the step's whole process tree). */
    private static void kill(List<Long> pids, String name) {
        if (pids) {
            new ProcessBuilder(['kill', "-${name}".toString()] + pids.collect { it.toString() }).inheritIO().start().waitFor()
        }
    }
}
