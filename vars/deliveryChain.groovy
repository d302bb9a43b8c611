/**
 * deliveryChain: the Jenkins side of the deploy -> run_tests -> evaluation_done chain that several
 * Jenkinsfiles share: who may start a chain job, which delivery supersedes which, where the service's
 * files come from and what the next job is handed.
 */

/** The folder holding the chain jobs (casc.yaml PIPELINE_STEPS_FOLDER, default `delivery`). */
String folder() {
    return (env.PIPELINE_STEPS_FOLDER ?: 'delivery').replaceAll('^/+|/+$', '')
}

/** The branch of a service repository that delivers (casc.yaml PIPELINE_STEPS_DELIVERY_BRANCH, default main). */
String deliveryBranch() {
    return env.PIPELINE_STEPS_DELIVERY_BRANCH ?: 'main'
}

/** An absolute job path in the chain folder: `build job:` resolves a relative name against the caller's folder first. */
String job(String name) {
    return "/${folder()}/${name}"
}

/**
 * Refuses a build that was not started by one of the `upstream` jobs (full names, or the keyword
 * 'service' for the delivery branch of a service's multibranch job outside the chain folder).
 * Causes come from currentBuild.getBuildCauses() (workflow-support RunWrapper); a person pressing
 * "Build with Parameters" gives a UserIdCause and is refused, so nobody skips the gate by hand.
 */
void requireUpstream(List<String> upstream) {
    List causes = currentBuild.getBuildCauses()
    List<String> projects = causes.findAll { it._class == 'hudson.model.Cause$UpstreamCause' }.collect { it.upstreamProject as String }
    boolean allowed = projects.any { String project ->
        upstream.any { String wanted ->
            wanted == 'service' ? isServiceDeliveryBranch(project) : project == wanted
        }
    }
    if (!allowed) {
        String by = causes.collect { it.shortDescription ?: it._class }.join('; ') ?: 'nothing recorded'
        error("${env.JOB_NAME} runs only as part of the delivery chain, started by ${upstream.join(' or ')} " +
              "(this build: ${by}). Deliver a version by pushing it to ${deliveryBranch()} of the service repository.")
    }
}

boolean isServiceDeliveryBranch(String project) {
    List<String> parts = project.tokenize('/')
    return parts.size() >= 2 && parts[-1] == deliveryBranch() && parts[0] != folder()
}

/**
 * Newer deliveries supersede older ones of the same service and stage. `milestone` and
 * `disableConcurrentBuilds(abortPrevious: true)` act per job, and one deploy job serves every service
 * and stage, so either would abort another service's delivery. Instead each deploy build records its key
 * (project/stage/service) in `env`, and a chain build that finds a newer deploy build with the same key
 * ends as NOT_BUILT without touching the stage: the same rule as a milestone, per key. The lock is taken
 * with inversePrecedence, so the newest waiter goes first.
 */
void claim(String key) {
    env.DELIVERY_KEY = key
}

/** deploy, after taking the stage's lock: gives way when a newer deploy build claimed the same key. */
void giveWayToNewer(String key) {
    endIfSuperseded(currentBuild, key)
}

/**
 * run_tests and evaluation_done: give way when the stage was (or is about to be) taken over by a newer
 * delivery, i.e. a deploy build newer than the one this chain build descends from (currentBuild.upstreamBuilds,
 * RunWrapper.getUpstreamBuilds: the direct upstream first) claimed the same key. Otherwise an older version's
 * tests would judge the newer one, and its late PASS would flip the traffic back to the older colour and
 * promote it. A deploy build whose record was discarded cannot be compared: the build goes on, saying so.
 */
void giveWayToNewerDelivery(String key) {
    String deployJob = job('deploy').substring(1)
    def deploy = currentBuild.upstreamBuilds.find { it.fullProjectName == deployJob }
    if (deploy == null) {
        echo "no ${deployJob} build upstream of this one is on record: cannot tell whether a newer delivery overtook it"
        return
    }
    endIfSuperseded(deploy, key)
}

void endIfSuperseded(def build, String key) {
    def newer = build.nextBuild
    while (newer != null) {
        if (newer.buildVariables.DELIVERY_KEY == key) {
            currentBuild.result = 'NOT_BUILT'
            error("superseded: build #${newer.number} of ${job('deploy')} delivers a newer version to ${key}")
        }
        newer = newer.nextBuild
    }
}

/**
 * The service's files in `service/` (service.yaml, shipyard): SERVICE_REPO checked out at
 * SERVICE_REVISION, or SERVICE_PATH of this repository. Values reach the shell only as environment.
 */
void checkoutService() {
    if (params.SERVICE_REPO) {
        dir('.service-repo') {
            checkout([$class: 'GitSCM', branches: [[name: params.SERVICE_REVISION ?: '*/main']],
                      userRemoteConfigs: [[url: params.SERVICE_REPO, credentialsId: env.GIT_CREDENTIALS_ID ?: null]]])
        }
    }
    withEnv(["SERVICE_REPO=${params.SERVICE_REPO ?: ''}", "SERVICE_PATH=${params.SERVICE_PATH ?: '.'}"]) {
        sh(label: 'service files', script: '''
            if [ -n "$SERVICE_REPO" ]; then ln -sfn ".service-repo/$SERVICE_PATH" service; else ln -sfn "$SERVICE_PATH" service; fi
            rm -rf out && mkdir -p out
        ''')
    }
}

/** A shipyard stage's strategies and gate (`pipeline-steps shipyard stage --output json`). */
Map stageConfig(String name) {
    String text = new io.pipelinesteps.Cli(this).output("shipyard stage ${name}",
        ['shipyard', 'stage', '--shipyard', "service/${params.SHIPYARD}", '--name', name, '--output', 'json'])
    return readJSON(text: text) as Map
}

/** The build result for a pipeline-steps exit code, as the README's table says. */
void result(String step, int code) {
    new io.pipelinesteps.Cli(this).apply(step, code)
}

/** `build` parameters: every value as a string parameter. */
List parameters(Map<String, Object> values) {
    return values.collect { name, value -> string(name: name, value: value == null ? '' : "${value}") }
}
