package harness

import groovy.json.JsonSlurperClassic
import hudson.AbortException
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * The base class of every Jenkinsfile and vars/*.groovy the harness runs: the pipeline steps our files
 * call, each recording an event on the shared Build. Steps that need a workspace refuse to run outside a
 * node, as Jenkins does; `sh` is either scripted (scenario.sh.results by label) or run for real with
 * /bin/sh -xe in the node's workspace (scenario.sh.mode == 'real').
 *
 * Library global variables (vars/NAME.groovy) are loaded once per build, like Jenkins' singletons,
 * after `@Library`, the `libraries` directive or the `library` step.
 */
abstract class PipelineScript extends Script {
    Build state
    Library lib

    // -- globals -------------------------------------------------------------------------------------------
    @Override
    Object getProperty(String name) {
        switch (name) {
            case 'env': return new EnvAccess(state)
            case 'params': return Collections.unmodifiableMap(state.params)
            case 'currentBuild': return new CurrentBuild(state)
            case 'scm': return [kind: 'scm']
            default: break
        }
        try {
            return super.getProperty(name)
        } catch (MissingPropertyException missing) {
            Object variable = lib?.variable(name)
            if (variable != null) {
                return variable
            }
            throw missing
        }
    }

    Object methodMissing(String name, Object args) {
        Object variable = lib?.variable(name)
        if (variable == null) {
            throw new MissingMethodException(name, getClass(), args as Object[])
        }
        return variable.invokeMethod('call', args)
    }

    /** Declarative's `script { }` block: plain Groovy among the steps. */
    Object script(Closure body) {
        return body.call()
    }

    Object retry(Object count, Closure body) {
        int times = count instanceof Map ? (count as Map).count as int : count as int
        for (int attempt = 1; ; attempt++) {
            try {
                return body.call()
            } catch (FlowInterruptedException interrupted) {
                throw interrupted
            } catch (Exception failure) {
                state.record('retry', [attempt: attempt, message: failure.message])
                if (attempt >= times) {
                    throw failure
                }
            }
        }
    }

    Object pipeline(Closure body) {
        return new Declarative(this).run(body)
    }

    // -- steps without a workspace -----------------------------------------------------------------------------
    void echo(Object message) {
        state.record('echo', [message: "${message}".toString()])
        state.log("${message}".toString())
    }

    void error(String message) {
        state.record('error', [message: message])
        state.log("ERROR: ${message}".toString())
        throw new AbortException(message)
    }

    void unstable(Object arg) {
        String message = arg instanceof Map ? (arg as Map).message : "${arg}"
        state.record('unstable', [message: message])
        state.log("WARNING: ${message}".toString())
        state.worsen('UNSTABLE')
    }

    Object withEnv(List<String> pairs, Closure body) {
        Map<String, String> layer = [:]
        pairs.each { String pair ->
            int eq = pair.indexOf('=')
            layer[pair.substring(0, eq)] = pair.substring(eq + 1)
        }
        state.record('withEnv', [names: layer.keySet().sort()])
        return state.withLayer(layer, body)
    }

    /** Credentials bindings (credentials-binding): a Map per binding, resolved against the folders. */
    Map file(Map args) {
        return [binding: 'file'] + args
    }

    Map string(Map args) {
        return (args.containsKey('credentialsId') ? [binding: 'string'] : [parameter: 'string']) + args
    }

    Map usernamePassword(Map args) {
        return [binding: 'usernamePassword'] + args
    }

    Map booleanParam(Map args) {
        return [parameter: 'booleanParam'] + args
    }

    Object withCredentials(List<Map> bindings, Closure body) {
        Map<String, String> layer = [:]
        bindings.each { Map binding ->
            Map credential = Credentials.find(state, binding.credentialsId as String)
            if (binding.binding == 'file') {
                File tmp = new File(state.cwd('withCredentials(file)'), "../${state.nodes[-1].allocation}@tmp/secretFiles")
                tmp.mkdirs()
                File secret = new File(tmp, credential.fileName ?: binding.credentialsId as String)
                secret.text = credential.secret ?: ''
                layer[binding.variable as String] = secret.canonicalPath
            } else {
                layer[binding.variable as String] = credential.secret ?: ''
            }
        }
        state.record('withCredentials', [ids: bindings*.credentialsId, variables: bindings*.variable])
        return state.withLayer(layer, body)
    }

    Object lock(Object args, Closure body) {
        Map options = args instanceof Map ? args as Map : [resource: args]
        String resource = options.resource
        state.record('lock', [resource: resource, phase: 'acquire', inversePrecedence: options.inversePrecedence ?: false])
        state.locks << resource
        try {
            return body.call()
        } finally {
            state.locks.remove(state.locks.size() - 1)
            state.record('lock', [resource: resource, phase: 'release'])
        }
    }

    Object timeout(Object args, Closure body) {
        Map options = args instanceof Map ? args as Map : [time: args]
        Map factors = [SECONDS: 1 / 60, MINUTES: 1, HOURS: 60, DAYS: 1440]
        BigDecimal minutes = (options.time as BigDecimal) * (factors[options.unit ?: 'MINUTES'] as BigDecimal)
        Map active = [id: ++state.timeoutIds, minutes: minutes, fired: false]
        state.record('timeout', [minutes: minutes, phase: 'start'])
        state.timeouts << active
        try {
            Object value = body.call()
            if (active.fired) {
                throw new FlowInterruptedException('ABORTED', ['TimeoutStepExecution.ExceededTimeout'])
            }
            return value
        } catch (FlowInterruptedException interrupted) {
            if (active.fired) {
                throw new FlowInterruptedException('ABORTED', ['TimeoutStepExecution.ExceededTimeout'])
            }
            throw interrupted
        } finally {
            state.timeouts.remove(active)
        }
    }

    Object input(Object args) {
        return Approvals.input(state, args instanceof Map ? args as Map : [message: args])
    }

    void milestone(Object args = [:]) {
        Map options = args instanceof Map ? args as Map : [ordinal: args]
        state.record('milestone', options)
    }

    Object build(Map args) {
        return Items.trigger(state, args)
    }

    Object library(Object args) {
        String name = args instanceof Map ? (args as Map).identifier : args
        state.record('library', [name: name])
        lib.load(name)
        return lib
    }

    Object node(String label = null, Closure body) {
        return state.onNode(label, body)
    }

    Object stage(String name, Closure body) {
        state.stagePath << name
        try {
            return body.call()
        } finally {
            state.stagePath.remove(state.stagePath.size() - 1)
        }
    }

    /**
     * workflow-cps ParallelStep: the map holds the branches (closures) and at most `failFast` (a Boolean); anything
     * else is an IllegalArgumentException. Every branch runs to its end in its own thread here (its own CPS thread in
     * Jenkins) even when another fails; a branch that fails logs "Failed in branch NAME"; when all are done the
     * step fails with the most severe failure (any exception over AbortException over FlowInterruptedException,
     * ties by the order they happened: ThrowableComparator), else returns each branch's value by name. failFast
     * (stopping the other branches) is not modelled: a scenario that needs it fails loudly.
     */
    Object parallel(Map branches) {
        Map<String, Closure> bodies = [:]
        branches.each { key, value ->
            if (value instanceof Closure) {
                bodies[key as String] = value as Closure
            } else if (key == 'failFast' && value instanceof Boolean) {
                if (value) {
                    throw new UnsupportedOperationException('harness: parallel failFast: true is not modelled')
                }
            } else {
                throw new IllegalArgumentException("Expected a closure or failFast but found ${key}=${value}")
            }
        }
        state.record('parallel', [branches: bodies.keySet() as List, phase: 'start'])
        Map results = Collections.synchronizedMap([:])
        List<Throwable> failures = Collections.synchronizedList([])
        List<Thread> threads = bodies.collect { String name, Closure body ->
            Build.Context context = state.fork(name)
            Thread.start("parallel ${name}") {
                state.inBranch(context) {
                    try {
                        results[name] = body.call()
                    } catch (Throwable failure) {
                        failures << failure
                        state.log("Failed in branch ${name}".toString())
                    }
                }
            }
        }
        threads*.join()
        state.record('parallel', [branches: bodies.keySet() as List, phase: 'end', failed: failures.size()])
        if (failures) {
            List<Throwable> order = new ArrayList<Throwable>(failures)
            throw order.min { Throwable a, Throwable b -> (Build.severity(a) <=> Build.severity(b)) ?: (order.indexOf(a) <=> order.indexOf(b)) }
        }
        return results
    }

    Object catchError(Map args = [:], Closure body) {
        try {
            return body.call()
        } catch (Exception failure) {
            state.record('catchError', [message: failure.message])
            state.worsen(args.buildResult ?: 'FAILURE')
            return null
        }
    }

    void sleep(Object time) {
        state.record('sleep', [time: time])
    }

    boolean isUnix() {
        return true
    }

    // -- steps with a workspace ----------------------------------------------------------------------------------
    Object sh(Object args) {
        return Shell.run(state, args instanceof Map ? args as Map : [script: args])
    }

    Object dir(String path, Closure body) {
        File target = new File(state.cwd('dir'), path)
        target.mkdirs()
        state.dirs << target
        try {
            return body.call()
        } finally {
            state.dirs.remove(state.dirs.size() - 1)
        }
    }

    void deleteDir() {
        state.cwd('deleteDir').deleteDir()
    }

    void checkout(Object scmArg) {
        Workspace.checkout(state, scmArg)
    }

    void writeFile(Map args) {
        File target = new File(state.cwd('writeFile'), args.file as String)
        target.parentFile.mkdirs()
        target.text = args.text
        state.record('writeFile', [file: args.file])
    }

    String readFile(Object args) {
        String path = args instanceof Map ? (args as Map).file : args
        return new File(state.cwd('readFile'), path).text
    }

    boolean fileExists(Object path) {
        return new File(state.cwd('fileExists'), path instanceof Map ? (path as Map).file as String : path as String).exists()
    }

    Object readJSON(Map args) {
        String text = args.containsKey('text') ? args.text : new File(state.cwd('readJSON'), args.file as String).text
        state.record('readJSON', args.containsKey('file') ? [file: args.file] : [:])
        return new JsonSlurperClassic().parseText(text)
    }

    Object readYaml(Map args) {
        String text = args.containsKey('text') ? args.text : new File(state.cwd('readYaml'), args.file as String).text
        state.record('readYaml', args.containsKey('file') ? [file: args.file] : [:])
        return Workspace.yaml(text)
    }

    void junit(Map args) {
        state.record('junit', args + [matched: Workspace.glob(state.cwd('junit'), args.testResults as String)])
    }

    void archiveArtifacts(Map args) {
        state.record('archiveArtifacts', args + [matched: Workspace.glob(state.cwd('archiveArtifacts'), args.artifacts as String)])
    }

    void publishHTML(Map args) {
        Map target = (args.target ?: args) as Map
        File folder = new File(state.cwd('publishHTML'), target.reportDir as String ?: '.')
        List<String> files = (target.reportFiles as String).tokenize(',')*.trim()
        state.record('publishHTML', [target: target, present: files.findAll { new File(folder, it).isFile() }])
    }

    /** pipeline-groovy-lib: a file under the library's resources/. */
    String libraryResource(Object args) {
        String path = args instanceof Map ? (args as Map).resource : args
        state.record('libraryResource', [resource: path])
        return new File(lib.root, "resources/${path}").getText('UTF-8')
    }

    void stash(Map args) {
        Workspace.stash(state, args)
    }

    void unstash(Object name) {
        Workspace.unstash(state, name as String)
    }
}
