package harness

import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * Declarative Pipeline as pipeline-model-definition runs it (ModelInterpreter.groovy, which this follows
 * step for step):
 *
 * - the build: agent, then environment, then the pipeline's `options` wrappers (timeout, lock...), and
 *   inside those the stages *and the post section* - so a pipeline-level timeout also bounds `post`;
 * - a stage: `when` if beforeOptions, then the stage's options wrappers, `when` if beforeInput, `input`,
 *   `when` if beforeAgent, the agent, `when` (default), environment, steps, the stage's `post`;
 * - a stage after a failure is skipped; post conditions run in BuildCondition order (always, changed,
 *   fixed, regression, aborted, success, unsuccessful, unstable, failure, notBuilt, cleanup) against the
 *   result with the error folded in (a FlowInterruptedException carries its own result);
 * - `parameters` are applied to the job on every build (executeProperties): `params` holds the
 *   defaults overridden by passed values, the environment only what the build was started with, which
 *   on a job's first build is nothing (JENKINS-41929);
 * - an agent allocation checks out `scm` unless skipDefaultCheckout.
 */
class Declarative {
    static final List<String> CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'success',
                                            'unsuccessful', 'unstable', 'failure', 'notBuilt', 'cleanup']
    static final List<String> WRAPPERS = ['timeout', 'lock', 'retry', 'timestamps']

    final PipelineScript script
    final Build build
    PipelineModel root

    Declarative(PipelineScript script) {
        this.script = script
        this.build = script.getState()
    }

    Object run(Closure body) {
        root = new PipelineModel()
        // Jenkins reads the model with the build's parameters already in `params`; defaults follow below.
        if (!build.scenario.firstBuild) {
            build.params.putAll((build.scenario.params ?: [:]) as Map)
        }
        body.delegate = root
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
        applyProperties()
        root.libraries.each { script.library(it) }
        Throwable firstError = null
        boolean postRun = false
        try {
            inAgent(root.agent) {
                withEnvironment(root.environment) {
                    inWrappers(root.wrappers) {
                        firstError = null
                        firstError = runStages(root.stages, firstError)
                        try {
                            postRun = true
                            runPost(root.post, firstError, 'Declarative: Post Actions')
                        } catch (Throwable e) {
                            firstError = firstError ?: e
                        }
                        if (firstError != null) {
                            throw firstError
                        }
                    }
                }
            }
        } catch (Throwable e) {
            firstError = firstError ?: e
        } finally {
            if (!postRun) {
                try {
                    runPost(root.post, firstError, 'Declarative: Post Actions')
                } catch (Throwable e) {
                    firstError = firstError ?: e
                }
            }
        }
        if (firstError != null) {
            throw firstError
        }
        return null
    }

    private void applyProperties() {
        Map passed = (build.scenario.params ?: [:]) as Map
        boolean first = build.scenario.firstBuild as boolean
        build.params.clear()
        root.parameters.each { Map p ->
            Object value = p.defaultValue
            if (!first && passed.containsKey(p.name)) {
                value = passed[p.name]
                if (p.trim && value instanceof String) {
                    value = (value as String).trim()
                }
            }
            if (p.kind == 'booleanParam') {
                value = value in [true, 'true']
            }
            build.params[p.name as String] = value
            if (!first && passed.containsKey(p.name)) {
                build.paramEnv[p.name as String] = "${value}".toString()
            } else if (!first) {
                build.paramEnv[p.name as String] = "${value ?: ''}".toString()
            }
        }
        build.record('pipeline', [parameters: root.parameters*.name, options: root.properties, firstBuild: first,
                                  agent: root.agent?.kind])
    }

    // -- stages ----------------------------------------------------------------------------------------------
    private Throwable runStages(List<StageModel> stages, Throwable firstError) {
        Throwable error = firstError
        stages.each { error = evaluateStage(it, error) }
        return error
    }

    private Throwable evaluateStage(StageModel stage, Throwable firstError) {
        build.stagePath << stage.name
        Map record = [name: build.stagePath.join('/'), status: null]
        build.stages << record
        Throwable error = firstError
        try {
            if (firstError != null) {
                record.status = 'skipped: earlier failure'
            } else {
                WhenModel when = stage.when
                if (when.check('beforeOptions', script, build)) {
                    inWrappers(stage.wrappers) {
                        if (when.check('beforeInput', script, build)) {
                            stageInput(stage.input) {
                                if (when.check('beforeAgent', script, build)) {
                                    inAgent(stage.agent) {
                                        if (when.check('default', script, build)) {
                                            withEnvironment(stage.environment) {
                                                if (stage.parallel) {
                                                    Throwable nested = runStages(stage.parallel, null)
                                                    if (nested != null) {
                                                        throw nested
                                                    }
                                                } else if (stage.stages) {
                                                    Throwable nested = runStages(stage.stages, null)
                                                    if (nested != null) {
                                                        throw nested
                                                    }
                                                } else {
                                                    executeSingleStage(stage)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                record.status = when.passed ? 'ran' : 'skipped: when'
            }
        } catch (Throwable e) {
            record.status = 'failed'
            record.error = e.toString()
            error = error ?: e
        } finally {
            build.stagePath.remove(build.stagePath.size() - 1)
        }
        return error
    }

    private void executeSingleStage(StageModel stage) {
        Throwable stageError = null
        try {
            if (stage.steps != null) {
                stage.steps.delegate = script
                stage.steps.resolveStrategy = Closure.DELEGATE_FIRST
                stage.steps.call()
            }
        } catch (Throwable e) {
            stageError = e
        } finally {
            try {
                runPost(stage.post, stageError, null)
            } catch (Throwable e) {
                stageError = stageError ?: e
            }
        }
        if (stageError != null) {
            throw stageError
        }
    }

    private void stageInput(Map input, Closure body) {
        if (input != null) {
            script.input(input)
        }
        body.call()
    }

    // -- post ----------------------------------------------------------------------------------------------------
    private void runPost(Map<String, Closure> post, Throwable error, String stageName) {
        if (!post) {
            return
        }
        if (stageName) {
            build.stagePath << stageName
        }
        Throwable postError = null
        try {
            CONDITIONS.each { String condition ->
                Closure body = post[condition]
                if (body != null && meets(condition, error)) {
                    build.record('post', [condition: condition])
                    try {
                        body.delegate = script
                        body.resolveStrategy = Closure.DELEGATE_FIRST
                        body.call()
                    } catch (Throwable e) {
                        postError = postError ?: e
                    }
                }
            }
        } finally {
            if (stageName) {
                build.stagePath.remove(build.stagePath.size() - 1)
            }
        }
        if (postError != null) {
            throw postError
        }
    }

    private boolean meets(String condition, Throwable error) {
        String result = build.resultOrSuccess
        String fromError = error == null ? null : (error instanceof FlowInterruptedException ? error.result : 'FAILURE')
        if (fromError != null && Build.RESULTS.indexOf(fromError) > Build.RESULTS.indexOf(result)) {
            result = fromError
        }
        String previous = build.scenario.previousResult
        switch (condition) {
            case 'always': case 'cleanup': return true
            case 'success': return result == 'SUCCESS'
            case 'unstable': return result == 'UNSTABLE'
            case 'failure': return result == 'FAILURE'
            case 'aborted': return result == 'ABORTED'
            case 'notBuilt': return result == 'NOT_BUILT'
            case 'unsuccessful': return result != 'SUCCESS'
            case 'changed': return previous != null && previous != result
            case 'fixed': return previous != null && previous != 'SUCCESS' && result == 'SUCCESS'
            case 'regression': return previous == 'SUCCESS' && result != 'SUCCESS'
            default: throw new IllegalArgumentException("unknown post condition ${condition}")
        }
    }

    // -- agent, environment, wrappers ------------------------------------------------------------------------------
    private Object inAgent(AgentModel agent, Closure body) {
        if (agent == null || agent.kind == 'none') {
            return body.call()
        }
        String label = agent.label()
        return build.onNode(label) {
            if (!root.properties.containsKey('skipDefaultCheckout')) {
                script.checkout(script.getProperty('scm'))
            }
            body.call()
        }
    }

    private Object withEnvironment(Closure environment, Closure body) {
        if (environment == null) {
            return body.call()
        }
        EnvironmentModel model = new EnvironmentModel()
        environment.delegate = model
        environment.resolveStrategy = Closure.DELEGATE_FIRST
        environment.call()
        List<Map> bindings = model.values.findAll { it.value instanceof Map }.collect { name, Map c ->
            [binding: c.binding, credentialsId: c.credentialsId, variable: name]
        }
        Map<String, String> plain = model.values.findAll { !(it.value instanceof Map) }
            .collectEntries { k, v -> [(k): v == null ? null : "${v}".toString()] } as Map<String, String>
        build.record('environment', [names: model.values.keySet().sort()])
        return build.withLayer(plain) {
            bindings ? script.withCredentials(bindings, body) : body.call()
        }
    }

    private Object inWrappers(List<List> wrappers, Closure body) {
        if (!wrappers) {
            return body.call()
        }
        List<List> rest = wrappers.size() > 1 ? wrappers[1..-1] : []
        List wrapper = wrappers[0]
        return script.invokeMethod(wrapper[0] as String, [wrapper[1], { inWrappers(rest, body) }] as Object[])
    }
}

/** The `pipeline { }` block's directives. */
class PipelineModel {
    AgentModel agent
    List<List> wrappers = []
    Map<String, Object> properties = [:]
    List<Map> parameters = []
    Closure environment
    List<StageModel> stages = []
    Map<String, Closure> post = [:]
    List<String> libraries = []

    String getAny() { return 'any' }
    String getNone() { return 'none' }

    void agent(Object spec) { agent = new AgentModel(spec) }

    void options(Closure body) { OptionsModel.read(body, wrappers, properties) }

    void parameters(Closure body) {
        ParametersModel model = new ParametersModel()
        body.delegate = model
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
        parameters = model.definitions
    }

    void environment(Closure body) { environment = body }

    void triggers(Closure body) { properties.triggers = true }

    void libraries(Closure body) {
        Recorder holder = new Recorder()
        body.delegate = holder
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
        libraries = holder.values.lib as List<String> ?: []
    }

    void stages(Closure body) { stages = StageModel.readAll(body) }

    void post(Closure body) { post = PostModel.read(body) }
}

/** `agent any | none | { label '...' }`; the label is read when the agent is allocated (it may use env). */
class AgentModel {
    final String kind
    final Closure spec

    AgentModel(Object spec) {
        this.kind = spec instanceof Closure ? 'block' : spec as String
        this.spec = spec instanceof Closure ? spec as Closure : null
    }

    String label() {
        if (spec == null) {
            return null
        }
        Recorder holder = new Recorder()
        Closure copy = spec.clone() as Closure
        copy.delegate = holder
        copy.resolveStrategy = Closure.DELEGATE_FIRST
        copy.call()
        if (holder.values.kubernetes) {
            return 'kubernetes-pod'
        }
        return holder.values.label ? "${holder.values.label[-1]}".toString() : null
    }
}

/** `options { }`: block-scoped steps become wrappers (in order), the rest are job properties. */
class OptionsModel {
    final List<List> wrappers
    final Map<String, Object> properties

    OptionsModel(List<List> wrappers, Map<String, Object> properties) {
        this.wrappers = wrappers
        this.properties = properties
    }

    static void read(Closure body, List<List> wrappers, Map<String, Object> properties) {
        body.delegate = new OptionsModel(wrappers, properties)
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
    }

    Object methodMissing(String name, Object args) {
        Object[] list = args as Object[]
        Object value = list.length == 0 ? null : (list.length == 1 ? list[0] : list.toList())
        if (name in Declarative.WRAPPERS) {
            wrappers << [name, value]
        } else if (name == 'logRotator') {
            return [logRotator: value]
        } else {
            properties[name] = value == null ? true : value
        }
        return null
    }
}

/** `parameters { string(...); choice(...); booleanParam(...) }`. */
class ParametersModel {
    List<Map> definitions = []

    void string(Map p) { definitions << [kind: 'string', name: p.name, defaultValue: p.defaultValue ?: '', trim: p.trim ?: false] }

    void text(Map p) { definitions << [kind: 'text', name: p.name, defaultValue: p.defaultValue ?: ''] }

    void booleanParam(Map p) { definitions << [kind: 'booleanParam', name: p.name, defaultValue: p.defaultValue ?: false] }

    void choice(Map p) {
        List<String> choices = p.choices instanceof List ? p.choices as List<String> : (p.choices as String).readLines()
        definitions << [kind: 'choice', name: p.name, defaultValue: choices ? choices[0] : '', choices: choices]
    }
}

/** `environment { NAME = value; SECRET = credentials('id') }`. */
class EnvironmentModel {
    Map<String, Object> values = [:]

    Map credentials(String id) { return [binding: 'string', credentialsId: id] }

    @Override
    void setProperty(String name, Object value) { values[name] = value }
}

/** `post { always { } failure { } ... }`. */
class PostModel {
    final Map<String, Closure> post = [:]

    static Map<String, Closure> read(Closure body) {
        PostModel model = new PostModel()
        body.delegate = model
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
        return model.post
    }

    Object methodMissing(String name, Object args) {
        if (!(name in Declarative.CONDITIONS)) {
            throw new MissingMethodException(name, PostModel, args as Object[])
        }
        post[name] = (args as Object[])[0] as Closure
        return null
    }
}

/** One `stage('name') { }` with its directives. */
class StageModel {
    String name
    AgentModel agent
    List<List> wrappers = []
    Map<String, Object> properties = [:]
    WhenModel when = new WhenModel()
    Map input
    Closure environment
    Closure steps
    Map<String, Closure> post = [:]
    List<StageModel> stages
    List<StageModel> parallel

    static List<StageModel> readAll(Closure body) {
        List<StageModel> stages = []
        Object recorder = new Object() {
            void stage(String name, Closure stageBody) {
                StageModel model = new StageModel(name: name)
                stageBody.delegate = model
                stageBody.resolveStrategy = Closure.DELEGATE_FIRST
                stageBody.call()
                stages << model
            }
        }
        body.delegate = recorder
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
        return stages
    }

    String getAny() { return 'any' }
    String getNone() { return 'none' }

    void agent(Object spec) { agent = new AgentModel(spec) }

    void options(Closure body) { OptionsModel.read(body, wrappers, properties) }

    void when(Closure body) { when = WhenModel.read(body) }

    void input(Closure body) {
        Recorder holder = new Recorder()
        body.delegate = holder
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
        input = holder.values.collectEntries { k, v -> [(k): v[-1]] }
    }

    void environment(Closure body) { environment = body }

    void steps(Closure body) { steps = body }

    void post(Closure body) { post = PostModel.read(body) }

    void stages(Closure body) { stages = readAll(body) }

    void parallel(Closure body) { parallel = readAll(body) }

    void failFast(boolean value) { properties.failFast = value }
}

/**
 * `when { }`: the conditions (all must hold) and when they are evaluated. Like Declarative's
 * WhenEvaluator, once evaluated the answer is kept; `passed` is true when there is no `when`.
 */
class WhenModel {
    List<Closure> conditions = []
    String moment = 'default'
    Boolean result

    static WhenModel read(Closure body) {
        WhenModel model = new WhenModel()
        model.conditions = Conditions.read(body, model)
        return model
    }

    boolean getPassed() { return conditions.isEmpty() || result == true }

    /** True when the stage goes on past this point: not evaluated yet (another moment) or passed. */
    boolean check(String now, PipelineScript script, Build build) {
        if (conditions.isEmpty() || result == true) {
            return true
        }
        if (now != moment && now != 'default') {
            return true
        }
        result = conditions.every { it.call(script, build) }
        build.record('when', [moment: now, passed: result])
        return result
    }
}

/** The `when` conditions we use, each a closure (script, build) -> boolean. */
class Conditions {
    static List<Closure> read(Closure body, WhenModel model) {
        List<Closure> conditions = []
        Object recorder = new Object() {
            // the earliest moment asked for wins (beforeOptions, then beforeInput, then beforeAgent)
            void beforeOptions(boolean b) { if (b) { model.moment = 'beforeOptions' } }
            void beforeInput(boolean b) { if (b && model.moment != 'beforeOptions') { model.moment = 'beforeInput' } }
            void beforeAgent(boolean b) { if (b && model.moment == 'default') { model.moment = 'beforeAgent' } }
            void branch(String pattern) {
                conditions << { PipelineScript s, Build b ->
                    String name = b.environment().BRANCH_NAME
                    name != null && name ==~ pattern.replace('.', '\\.').replace('**', '\u0001').replace('*', '[^/]*')
                        .replace('\u0001', '.*').replace('?', '.')
                }
            }
            void expression(Closure test) {
                conditions << { PipelineScript s, Build b ->
                    Closure copy = test.clone() as Closure
                    copy.delegate = s
                    copy.resolveStrategy = Closure.DELEGATE_FIRST
                    copy.call() as boolean
                }
            }
            void environment(Map args) {
                conditions << { PipelineScript s, Build b -> b.environment()[args.name as String] == args.value }
            }
            void equals(Map args) {
                conditions << { PipelineScript s, Build b -> args.expected == args.actual }
            }
            void triggeredBy(Object spec) {
                String cause = spec instanceof Map ? (spec as Map).cause : spec
                conditions << { PipelineScript s, Build b ->
                    ((b.scenario.causes ?: []) as List<Map>).any { Map c ->
                        String cls = c._class as String
                        cls == cause || cls.endsWith('$' + cause) || cls.endsWith('.' + cause)
                    }
                }
            }
            void not(Closure inner) {
                List<Closure> nested = Conditions.read(inner, new WhenModel())
                conditions << { PipelineScript s, Build b -> !nested.every { it.call(s, b) } }
            }
            void allOf(Closure inner) {
                List<Closure> nested = Conditions.read(inner, new WhenModel())
                conditions << { PipelineScript s, Build b -> nested.every { it.call(s, b) } }
            }
            void anyOf(Closure inner) {
                List<Closure> nested = Conditions.read(inner, new WhenModel())
                conditions << { PipelineScript s, Build b -> nested.any { it.call(s, b) } }
            }
        }
        body.delegate = recorder
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.call()
        return conditions
    }
}

/** Records `name(value)` calls of a small directive block (libraries, agent, input); nested blocks too. */
class Recorder {
    Map<String, List> values = [:]

    Object methodMissing(String name, Object args) {
        Object[] list = args as Object[]
        Object value = list.length ? list[0] : true
        if (value instanceof Closure) {
            Closure inner = value as Closure
            inner.delegate = this
            inner.resolveStrategy = Closure.DELEGATE_FIRST
            inner.call()
            value = true
        }
        values.get(name, []) << value
        return null
    }
}
