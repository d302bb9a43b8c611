package harness

import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * One build of one job as the harness plays it: what Jenkins knows about it (job, parameters, causes,
 * the controller's environment, credentials and items) and everything the pipeline did (events).
 *
 * A scenario (a JSON object, see tests/jenkins/pipeline.py) describes the build; the fields used here:
 * job, branch, params, firstBuild, causes, env, items, credentials, users, admins, inputAnswers, sh,
 * hangOn, workspaceRoot, scm, scmCheckouts, newerBuilds, previousResult, splitting.
 *
 * `log` is the build's console text as Jenkins would show it (echo, error, unstable, input messages and
 * every sh's output: stderr always, stdout unless returnStdout), WITHOUT the masking credentials-binding
 * applies to bound secrets: a test that finds no secret in it proves the secret never got there, not
 * that Jenkins would have hidden it.
 */
class Build {
    /** Jenkins' Result order (hudson.model.Result ordinals): a result only ever gets worse (Run.setResult). */
    static final List<String> RESULTS = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']

    final Map scenario
    final String job
    final List<Map> events = Collections.synchronizedList([])
    final List<Map> stages = Collections.synchronizedList([])
    final Map<String, String> envAssigned = Collections.synchronizedMap([:])
    final Map<String, Object> params = [:]
    final Map<String, String> paramEnv = [:]
    final Map<String, Object> stashes = Collections.synchronizedMap([:])
    final StringBuffer log = new StringBuffer()
    /** What encloses the running step; each `parallel` branch runs in its own thread with a copy of its parent's. */
    private final Context main = new Context()
    private final ThreadLocal<Context> current = new ThreadLocal<Context>()
    String result = null
    String description = null
    int allocations = 0
    int timeoutIds = 0
    List<Map> answers

    Build(Map scenario) {
        this.scenario = scenario
        this.job = scenario.job ?: 'job'
        this.answers = new ArrayList<Map>((scenario.inputAnswers ?: []) as List<Map>)
    }

    /**
     * The block structure around a step (stage, timeouts, locks, node, dir, withEnv layers, parallel branch):
     * per CPS thread in Jenkins, so per Java thread here (workflow-cps runs each parallel branch as its own
     * CpsThread whose context starts as a copy of the parent's: ParallelStepExecution invokes every body
     * with the step's own context).
     */
    static class Context {
        List<String> stagePath = []
        List<Map> timeouts = []
        List<String> locks = []
        List<Map> nodes = []
        List<File> dirs = []
        List<Map<String, String>> envLayers = []
        String branch = null

        Context copy(String branchName) {
            return new Context(stagePath: new ArrayList(stagePath), timeouts: new ArrayList(timeouts), locks: new ArrayList(locks),
                               nodes: new ArrayList(nodes), dirs: new ArrayList(dirs), envLayers: new ArrayList(envLayers),
                               branch: branch ? "${branch}/${branchName}".toString() : branchName)
        }
    }

    Context getContext() {
        return current.get() ?: main
    }

    /** Runs `body` in this thread as the parallel branch `context` (made by `fork`). */
    Object inBranch(Context context, Closure body) {
        current.set(context)
        try {
            return body.call()
        } finally {
            current.remove()
        }
    }

    Context fork(String branchName) {
        return context.copy(branchName)
    }

    List<String> getStagePath() { return context.stagePath }

    List<Map> getTimeouts() { return context.timeouts }

    List<String> getLocks() { return context.locks }

    List<Map> getNodes() { return context.nodes }

    List<File> getDirs() { return context.dirs }

    List<Map<String, String>> getEnvLayers() { return context.envLayers }

    /** workflow-cps ParallelStep.ThrowableComparator: lower is more severe. */
    static int severity(Throwable failure) {
        if (failure instanceof FlowInterruptedException) {
            return 2 + RESULTS.size() - RESULTS.indexOf((failure as FlowInterruptedException).result)
        }
        return failure instanceof hudson.AbortException ? 1 : 0
    }

    // -- results ------------------------------------------------------------------------------------------
    synchronized void worsen(String candidate) {
        if (candidate == null) {
            return
        }
        String current = result ?: 'SUCCESS'
        if (RESULTS.indexOf(candidate) > RESULTS.indexOf(current)) {
            result = candidate
        }
    }

    String getResultOrSuccess() {
        return result ?: 'SUCCESS'
    }

    // -- recording -------------------------------------------------------------------------------------------
    /** Appends an event with where it happened: stage, held executors, active timeouts and locks. */
    Map record(String type, Map details = [:]) {
        Map event = [type: type, stage: stagePath.join('/'), executors: nodes.size(), branch: context.branch,
                     node: nodes ? nodes[-1].label : null, locks: new ArrayList(locks),
                     timeouts: timeouts.collect { [minutes: it.minutes, fired: it.fired] }] + details
        events << event
        return event
    }

    /** A line (or block) of console text. */
    synchronized void log(String text) {
        if (text) {
            log.append(text.endsWith('\n') ? text : text + '\n')
        }
    }

    // -- environment -----------------------------------------------------------------------------------------
    /**
     * What a step sees as its environment, lowest precedence first: the controller's global properties
     * (casc globalNodeProperties), Jenkins' own build variables, the build's parameters (absent on a job's
     * first build: JENKINS-41929), `env.X = ...`, then environment directives, withEnv and withCredentials.
     */
    Map<String, String> environment() {
        Map<String, String> env = [:]
        env.putAll((scenario.env ?: [:]) as Map<String, String>)
        env.putAll(jenkinsVariables())
        env.putAll(paramEnv)
        env.putAll(envAssigned)
        envLayers.each { env.putAll(it) }
        return env
    }

    Map<String, String> jenkinsVariables() {
        String number = "${scenario.buildNumber ?: 1}"
        Map<String, String> vars = [JOB_NAME: job, JOB_BASE_NAME: job.tokenize('/')[-1], BUILD_NUMBER: number,
                                    BUILD_ID: number, BUILD_TAG: "jenkins-${job.replace('/', '-')}-${number}".toString()]
        if (scenario.branch) {
            vars.BRANCH_NAME = scenario.branch as String
        }
        if (nodes) {
            vars.NODE_NAME = nodes[-1].name as String
            // Jenkins core (EnvironmentVariablesNodeProperty docs, Computer.buildEnvironment): the node's labels,
            // whitespace-separated, its own name (a self-label) among them.
            vars.NODE_LABELS = ([nodes[-1].label, nodes[-1].name].findAll { it } as List<String>).join(' ')
            vars.WORKSPACE = (nodes[-1].workspace as File).path
        }
        ((scenario.scmEnv ?: [:]) as Map<String, String>).each { k, v -> vars[k] = v }
        return vars
    }

    Object withLayer(Map<String, String> layer, Closure body) {
        envLayers << layer
        try {
            return body.call()
        } finally {
            envLayers.remove(envLayers.size() - 1)
        }
    }

    // -- nodes and workspaces ----------------------------------------------------------------------------------
    /** A node allocation: each gets a fresh workspace, as a build may land on any agent with the label. */
    Object onNode(String label, Closure body) {
        int allocation = allocate()
        File root = new File((scenario.workspaceRoot ?: System.getProperty('java.io.tmpdir')) as String)
        File ws = new File(root, "ws-${allocation}-${job.replace('/', '_')}")
        ws.mkdirs()
        // Scripted runs: files every fresh workspace starts with (what a checkout would have brought).
        ((scenario.files ?: [:]) as Map<String, String>).each { String rel, String text ->
            File target = new File(ws, rel)
            target.parentFile.mkdirs()
            target.text = text
        }
        Map node = [label: label, name: "agent-${label ?: 'any'}-${allocation}", workspace: ws, allocation: allocation]
        record('node', [label: label, phase: 'allocated', allocation: allocation])
        nodes << node
        try {
            return body.call()
        } finally {
            nodes.remove(nodes.size() - 1)
            record('node', [label: label, phase: 'released', allocation: node.name])
        }
    }

    private synchronized int allocate() {
        return ++allocations
    }

    File cwd(String step) {
        if (!nodes) {
            // Jenkins: MissingContextVariableException, the step needs a workspace (FilePath) from node/agent.
            throw new IllegalStateException("${step}: Required context class hudson.FilePath is missing " +
                '(Perhaps you forgot to surround the code with a step that provides this, such as: node)')
        }
        return dirs ? dirs[-1] : (nodes[-1].workspace as File)
    }

    // -- timeouts ------------------------------------------------------------------------------------------------
    /**
     * A step that never ends: the innermost timeout fires and interrupts it (workflow-basic-steps
     * TimeoutStepExecution: the body is interrupted, then killed after a 60 s grace period). Without any
     * timeout the build would hang forever, which ends the scenario.
     */
    void hang(String what) {
        Map active = timeouts ? timeouts[-1] : null
        record('hang', [what: what])
        if (active == null) {
            throw new HangForever(what)
        }
        active.fired = true
        record('timeoutFired', [minutes: active.minutes, what: what])
        throw new FlowInterruptedException('ABORTED', ['TimeoutStepExecution.ExceededTimeout'])
    }
}
